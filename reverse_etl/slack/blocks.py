"""Block Kit messages for one alert: pure functions from a marts.csm_alerts row to a chat.postMessage payload.

Every alert carries the full context a CSM needs to act without opening another tool (the product's promise:
"hand off with full context"): who the customer is, what they did and did not do, where and how long they
are stuck, and what the automation already sent. Customer-typed text goes through `escape.customer_text`
and every mrkdwn object sets `verbatim: true`; the top-level `text` (the notification fallback) holds no
customer text at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reverse_etl.slack import limits
from reverse_etl.slack.escape import clip, customer_text, escape, safe_url

KIND_TITLES = {
    "stalled": "Stalled",
    "checkpoint_missed": "Day-14 checkpoint missed",
    "win_back": "Win-back hand-off",
    "high_touch_signup": "New high-touch signup",
    "recovered": "Recovered",
    "kickoff_booked": "Kickoff booked",
}
PRIORITY_EMOJI = {"P0": ":rotating_light:", "P1": ":warning:", "FYI": ":information_source:"}
MAX_TRIGGERS_SHOWN = 8


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object that Slack will not auto-link or auto-mention (verbatim)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def section(text: str) -> dict[str, Any]:
    if len(text) > limits.MAX_SECTION_TEXT:
        raise ValueError(f"section text of {len(text)} chars exceeds {limits.MAX_SECTION_TEXT}")
    return {"type": "section", "text": mrkdwn(text)}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, limits.MAX_HEADER_TEXT)}}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[: limits.MAX_CONTEXT_ELEMENTS]]}


def money(value: object) -> str:
    try:
        return f"${float(value):,.0f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"


def duration(hours: object) -> str:
    try:
        h = float(hours)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    if h < 48:
        return f"{h:.0f} h"
    return f"{h / 24:.1f} days"


def day(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else "n/a"


def steps_list(values: object) -> str:
    items = [escape(v) for v in (values or [])]  # type: ignore[union-attr]
    return ", ".join(f"`{v}`" for v in items) if items else "none"


def csm_label(alert: Mapping[str, Any], *, mention: bool) -> str:
    """`<@U123>` when mentioning (the roster is ours, but ids are validated anyway), else the name."""
    user = alert.get("csm_slack_user_id")
    if mention and isinstance(user, str) and user.isalnum():
        return f"<@{user}>"
    name = alert.get("csm_name")
    return customer_text(name, 60, "unassigned") if name else "unassigned"


def what_happened(alert: Mapping[str, Any]) -> str:
    """One line: the status change in words, no customer text."""
    kind = alert.get("kind")
    step = escape(alert.get("stall_step") or alert.get("current_step") or "?")
    if kind == "stalled":
        return f"stalled for {duration(alert.get('hours_stalled') or alert.get('severity_hours'))} at `{step}`"
    if kind == "checkpoint_missed":
        return (
            f"missed the day-14 checkpoint: recovery attempt {alert.get('recovery_attempts') or 1} sent, "
            f"still at `{step}`"
        )
    if kind == "win_back":
        return f"recovery attempts used up: hand-off to win-back, last at `{step}`"
    if kind == "high_touch_signup":
        return "signed up on the high-touch track: book the kickoff within 48 h"
    if kind == "kickoff_booked":
        return "booked the kickoff call: the briefing for it is below"
    if kind == "recovered":
        return f"activated after a stall ({day(alert.get('activated_at'))})"
    return escape(kind)


def summary_line(alert: Mapping[str, Any]) -> str:
    """The digest's one line per account (also the first line of a real-time alert)."""
    company = customer_text(alert.get("company_name"))
    parts = [
        f"`{escape(alert.get('priority'))}` *{company}*",
        what_happened(alert),
        f"ARR {money(alert.get('arr'))}",
        escape(alert.get("plan_tier") or "?"),
        escape(alert.get("track") or "?"),
        f"{alert.get('steps_completed') or 0}/{alert.get('steps_total') or 0} steps",
    ]
    return " · ".join(parts)


def triggers_text(alert: Mapping[str, Any]) -> str:
    sent: Sequence[str] = list(alert.get("triggers_sent") or [])
    if not sent:
        return "*Automation already sent:* nothing yet"
    shown = [f"• {escape(t)}" for t in sent[-MAX_TRIGGERS_SHOWN:]]
    more = len(sent) - len(shown)
    head = f"*Automation already sent ({len(sent)}):*"
    if more > 0:
        head += f" (oldest {more} not shown)"
    return "\n".join([head, *shown])


def draft_text(draft: Mapping[str, Any] | None) -> str | None:
    if not draft:
        return None
    source = "AI draft" if draft.get("source") == "llm" else "template draft"
    subject = customer_text(draft.get("subject"), 150, "(no subject)")
    budget = limits.MAX_SECTION_TEXT - 200 - len(subject)
    body = escape(clip(draft.get("body"), budget // 2))  # escaping can at most ~double the length
    if draft.get("kind") == "kickoff_booked":
        return f"*Kickoff briefing ({source}, also filed in the CRM as a note):*\n*{subject}*\n```{body}```"
    return f"*Recovery e-mail ({source}, review before sending):*\n*Subject:* {subject}\n```{body}```"


def alert_payload(
    alert: Mapping[str, Any], channel: str, draft: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """chat.postMessage arguments for one real-time alert."""
    kind = str(alert.get("kind"))
    priority = str(alert.get("priority"))
    title = f"{priority} · {KIND_TITLES.get(kind, kind)}"
    blocks: list[dict[str, Any]] = [
        header(f"{title} · ARR {money(alert.get('arr'))}"),
        section(f"{csm_label(alert, mention=True)} {summary_line(alert)}"),
        {
            "type": "section",
            "fields": [
                mrkdwn(f"*Company:*\n{customer_text(alert.get('company_name'))}"),
                mrkdwn(f"*Account:*\n`{customer_text(alert.get('account_id'), 64)}`"),
                mrkdwn(f"*Plan:*\n{escape(alert.get('plan_tier') or '?')} · MRR {money(alert.get('mrr'))}"),
                mrkdwn(f"*ARR:*\n{money(alert.get('arr'))}"),
                mrkdwn(f"*Track:*\n{escape(alert.get('track') or '?')} ({escape(alert.get('track_source') or '?')})"),
                mrkdwn(f"*CSM:*\n{csm_label(alert, mention=False)}"),
                mrkdwn(f"*Signed up:*\n{day(alert.get('signup_at'))}"),
                mrkdwn(f"*Lifecycle:*\n{escape(alert.get('lifecycle_stage') or '?')}"),
            ],
        },
        section(
            f"*Did:* {steps_list(alert.get('steps_done'))}\n"
            f"*Not yet:* {steps_list(alert.get('steps_todo'))}\n"
            + (
                f"*Stuck on:* `{escape(alert.get('stall_step') or alert.get('current_step'))}` "
                f"since {day(alert.get('stalled_since') or alert.get('changed_at'))}"
                f" ({duration(alert.get('severity_hours'))})"
                if kind in ("stalled", "checkpoint_missed", "win_back")
                else f"*Current step:* `{escape(alert.get('current_step') or 'none')}`"
            )
        ),
        section(triggers_text(alert)),
    ]
    booking = safe_url(alert.get("csm_booking_url"))
    if kind == "high_touch_signup":
        link = f"<{booking}|priority booking link>" if booking else "no booking link in the roster"
        blocks.append(section(f"*Kickoff:* send the intro with your {link}; goal: kickoff booked within 48 h."))
    text = draft_text(dict(draft, kind=kind) if draft else None)
    if text:
        blocks.append(section(text))
    blocks.append(
        context(
            f"alert `{escape(alert.get('alert_id'))}` · rank {alert.get('alert_rank')} · "
            f"risk {money(alert.get('risk_score'))} · as of {day(alert.get('as_of'))}"
        )
    )
    fallback = (
        f"{title}: an account with ARR {money(alert.get('arr'))} on the "
        f"{escape(alert.get('track') or '?')} track needs {csm_label(alert, mention=False)}"
    )
    return {
        "channel": channel,
        "text": fallback,
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }
