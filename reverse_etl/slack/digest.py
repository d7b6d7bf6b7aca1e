"""The daily digest: every non-P0 alert since the last digest in ONE message, ranked, grouped by CSM.

Why one message: 40 similar pings a day get a channel muted by day three (the failure the digest exists to prevent).
Slack caps a message at 50 blocks and a section at 3000 characters, so the digest keeps the top-ranked
alerts that fit, whole lines only, and summarises the rest by priority and CSM ("…and 37 more FYI
accounts"). Packing is a pure function, so the limits are tested without a server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from reverse_etl.slack import limits
from reverse_etl.slack.blocks import context, csm_label, header, section, summary_line
from reverse_etl.slack.escape import escape, safe_url

PRIORITY_ORDER = {"P0": 0, "P1": 1, "FYI": 2}


# What ranks an alert and summarises it in the overflow line: all a digest reads of an alert it does not list.
SUMMARY_COLUMNS = ("alert_id", "priority", "alert_rank", "csm_name")


def rank_key(alert: Mapping[str, Any]) -> tuple:
    return (PRIORITY_ORDER.get(str(alert.get("priority")), 9), int(alert.get("alert_rank") or 0))


def _group_key(alert: Mapping[str, Any]) -> str:
    return str(alert.get("csm_owner") or "")


def _line(alert: Mapping[str, Any], draft: Mapping[str, Any] | None) -> str:
    line = f"{alert.get('_pos', '')}. {summary_line(alert)}"
    booking = safe_url(alert.get("csm_booking_url"))
    if alert.get("kind") == "high_touch_signup" and booking:
        line += f" · <{booking}|priority booking link>"
    sent = list(alert.get("triggers_sent") or [])
    if sent:
        line += f" · automation sent {len(sent)}, last: {escape(sent[-1])}"
    else:
        line += " · automation sent nothing yet"
    if draft and draft.get("subject"):
        line += " · recovery draft ready"
    return line


def _sections_for_group(head: str, lines: Sequence[str]) -> list[dict[str, Any]]:
    """Pack whole lines into as few sections as fit 3000 characters each; a line is never split."""
    blocks: list[dict[str, Any]] = []
    current = head
    for line in lines:
        candidate = f"{current}\n{line}"
        if len(candidate) > limits.MAX_SECTION_TEXT:
            blocks.append(section(current))
            current = line
        else:
            current = candidate
    blocks.append(section(current))
    return blocks


def overflow_text(rest: Sequence[Mapping[str, Any]]) -> str:
    """"…and 37 more FYI accounts (Ana 12, Dev 25)": what was left out, by priority and CSM."""
    by_priority = Counter(str(a.get("priority")) for a in rest)
    parts = []
    for priority in sorted(by_priority, key=lambda p: PRIORITY_ORDER.get(p, 9)):
        owners = Counter(csm_label(a, mention=False) for a in rest if str(a.get("priority")) == priority)
        who = ", ".join(f"{name}: {n}" for name, n in owners.most_common(5))
        if len(owners) > 5:
            who += ", …"
        parts.append(f"{by_priority[priority]} more {escape(priority)} accounts ({who})")
    return "…and " + "; ".join(parts) + ". The full ranked list: `marts.csm_alerts` / `ops.slack_alerts`."


def render(
    alerts: Sequence[Mapping[str, Any]],
    rest: Sequence[Mapping[str, Any]],
    digest_day: date,
    realtime_count: int,
    drafts: Mapping[str, Mapping[str, Any]],
    unrouted_count: int = 0,
) -> list[dict[str, Any]]:
    """Blocks for the shown alerts (already ranked) plus an overflow summary of `rest`."""
    total = len(alerts) + len(rest)
    intro = (
        f"{total} accounts need a look, ranked by ARR at risk and stall severity · "
        f"{realtime_count} P0 alerts went out in real time since the last digest · "
        "recovery e-mail drafts: `ops.slack_recovery_drafts`"
    )
    if unrouted_count:
        intro += f" · {unrouted_count} self-serve status changes handled by automation only (not listed)"
    blocks: list[dict[str, Any]] = [header(f"Onboarding digest · {digest_day.isoformat()}"), context(intro)]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for alert in alerts:  # dicts keep insertion order: groups appear in order of their best alert
        groups.setdefault(_group_key(alert), []).append(alert)
    for group in groups.values():
        first = group[0]
        count = f"{len(group)} account{'s' if len(group) != 1 else ''}"
        head = f"*{csm_label(first, mention=False)}* {csm_label(first, mention=True)} · {count}"
        if not first.get("csm_slack_user_id") and not first.get("csm_name"):
            head = f"*Unassigned* · {count}"
        lines = [_line(a, drafts.get(str(a.get("alert_id")))) for a in group]
        blocks.extend(_sections_for_group(head, lines))
    if rest:
        blocks.append(context(overflow_text(rest)))
    return blocks


def build_digest(
    alerts: Sequence[Mapping[str, Any]],
    digest_day: date,
    channel: str,
    *,
    realtime_count: int = 0,
    unrouted_count: int = 0,
    drafts: Mapping[str, Mapping[str, Any]] | None = None,
    max_blocks: int = limits.MAX_BLOCKS,
    max_items: int = 50,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The digest's chat.postMessage payload, the alert_ids shown and the alert_ids summarised.

    Keeps the largest prefix of the ranking, at most `max_items` lines (a digest is read, not
    scrolled), whose rendering fits `max_blocks` (more alerts never need fewer blocks, so a binary
    search finds it).
    """
    ranked = [dict(a, _pos=i + 1) for i, a in enumerate(sorted(alerts, key=rank_key))]
    notes = drafts or {}

    def fits(k: int) -> list[dict[str, Any]] | None:
        blocks = render(ranked[:k], ranked[k:], digest_day, realtime_count, notes, unrouted_count)
        return blocks if len(blocks) <= max_blocks else None

    lo, hi = 0, min(len(ranked), max(max_items, 0))
    best = fits(0)
    if best is None:
        raise ValueError("the digest frame alone exceeds the block limit")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        attempt = fits(mid)
        if attempt is not None:
            lo, best = mid, attempt
        else:
            hi = mid - 1
    shown = [str(a.get("alert_id")) for a in ranked[:lo]]
    summarised = [str(a.get("alert_id")) for a in ranked[lo:]]
    text = f"Onboarding digest {digest_day.isoformat()}: {len(ranked)} accounts ranked by ARR at risk"
    payload = {"channel": channel, "text": text, "blocks": best, "unfurl_links": False, "unfurl_media": False}
    return payload, shown, summarised
