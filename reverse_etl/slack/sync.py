"""One Slack cycle: new status changes -> real-time P0 alerts, the daily digest, drafts; then delivery.

Order of work, and why:
1. Read marts.csm_alerts narrowly, the send gate and what was already announced; whole, only the few new
   alerts at the top of the ranking that the LLM may draft (short connection).
2. Draft those with no connection open (LLM calls take seconds).
3. In ONE transaction: read the new alerts whole ALERT_PAGE at a time (a go-live finds every open alert new),
   remember them, store their drafts (templates past the LLM's budget), queue P0 messages, and, the first
   cycle at or after ONBOARDING_DIGEST_HOUR of an as-of day, build and queue that day's digest and record
   the day.
   A crash before the commit leaves nothing half-done; after it, delivery resumes from the outbox.
4. Deliver everything pending in the outbox (this cycle's and earlier failures), paced per channel.
Gated accounts (ops.send_gate) are neither announced nor remembered, so they are announced once the gate opens.

When nothing in the cycle waits on the network (no Slack token: messages go to the local outbox file; no LLM
drafts: templates), steps 1-4 share one connection instead of opening five: each close of the last connection
checkpoints what it wrote, ~0.1 s a time on a 2 GB warehouse. The transactions are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from reverse_etl import outbox
from reverse_etl.slack import state
from reverse_etl.slack.blocks import alert_payload
from reverse_etl.slack.digest import SUMMARY_COLUMNS, build_digest, rank_key
from reverse_etl.slack.drafts import Draft, draft_for, template_for
from reverse_etl.slack.settings import DRAFTED_KINDS, SlackSettings
from reverse_etl.slack.transport import ConnectionFactory, SlackTransport, borrowed

DIGEST_PRIORITY = 1_000_000  # after every real-time alert of the cycle (those use their rank)
# New alerts are read whole, remembered and drafted this many at a time: a go-live's 416k held at once took
# the step to 7.8 GB.
ALERT_PAGE = 20_000

Drafter = Callable[[Mapping[str, Any], SlackSettings], Draft]


def default_drafter(alert: Mapping[str, Any], settings: SlackSettings) -> Draft:
    return draft_for(alert, api_key=settings.anthropic_api_key or "", model=settings.llm_model)


def digest_due(as_of: datetime, digest_hour: int) -> bool:
    """The digest goes out from the first cycle whose as-of hour (UTC) is at or after the digest hour."""
    return as_of.astimezone(UTC).hour >= digest_hour


def cap_realtime(alerts: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Keep at most `limit` real-time pings per cycle (the top of the ranking); the rest join the digest.

    A first deploy, or a cycle after an outage, can find dozens of P0s at once: a burst of pings is the
    very failure the ranking exists to prevent, so the overflow keeps its P0 label but waits for the digest.
    """
    ranked = sorted(alerts, key=lambda a: int(a.get("alert_rank") or 0))
    kept = 0
    capped: list[dict[str, Any]] = []
    for alert in ranked:
        if alert.get("route") == "realtime":
            if kept >= limit:
                alert = dict(alert, route="digest")
                capped.append(alert)
                continue
            kept += 1
    by_id = {a["alert_id"]: a for a in capped}
    return [by_id.get(a["alert_id"], a) for a in alerts], len(capped)


def drafted(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts that get a draft (at-risk, or a booked kickoff, with a CSM to send it), most urgent first."""
    return [
        a for a in sorted(alerts, key=lambda a: int(a.get("alert_rank") or 0))
        if a.get("kind") in DRAFTED_KINDS and a.get("route") != "none"  # no draft without a CSM to send it
    ]


def over_budget(alert: Mapping[str, Any]) -> Draft:
    return template_for(alert, error="LLM draft budget for this cycle used")


def make_drafts(
    alerts: list[dict[str, Any]], settings: SlackSettings, drafter: Drafter | None = None, workers: int = 4
) -> dict[str, Draft]:
    """A draft per new at-risk alert (a briefing per booked kickoff), most urgent first; the LLM for the first `max_llm_drafts`, then templates.

    LLM calls run a few at a time (a first cycle can hold dozens; each takes seconds); the SDK retries
    429/529 itself and any failure becomes a template, so one slow answer never blocks the alerts.
    """
    chosen = drafter or default_drafter
    eligible = drafted(alerts)
    budget = max(settings.max_llm_drafts, 0)
    drafts: dict[str, Draft] = {str(a["alert_id"]): over_budget(a) for a in eligible[budget:]}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda a: chosen(a, settings), eligible[:budget])
        for alert, draft in zip(eligible[:budget], results, strict=True):
            drafts[str(alert["alert_id"])] = draft
    return drafts


def run_slack_cycle(
    open_con: ConnectionFactory,
    as_of: datetime,
    settings: SlackSettings,
    *,
    run_id: str | None = None,
    drafter: Drafter | None = None,
    transport: SlackTransport | None = None,
) -> dict[str, Any]:
    """Queue and deliver this cycle's Slack messages; returns a summary for Dagster metadata and ops.slack_runs."""
    cfg = settings
    started = datetime.now(UTC)
    as_of = as_of.astimezone(UTC)
    transport = transport or SlackTransport(cfg.token, cfg.base_url, per_channel_rate=cfg.per_channel_rate,
                                             outbox_dir=cfg.outbox_dir)
    offline = transport.token is None and drafter is None and not (cfg.anthropic_api_key and cfg.llm_model)
    with _connections(open_con, shared=offline) as connect:
        return _cycle(connect, as_of, cfg, started=started, run_id=run_id, drafter=drafter, transport=transport)


@contextmanager
def _connections(open_con: ConnectionFactory, *, shared: bool) -> Iterator[ConnectionFactory]:
    """The factory the cycle's steps open connections with: `open_con` itself, or, `shared`, one connection
    opened here and lent to every step (closed once, at the end)."""
    if not shared:
        yield open_con
        return
    with open_con() as con:
        yield lambda: borrowed(con)


def _cycle(
    open_con: ConnectionFactory,
    as_of: datetime,
    cfg: SlackSettings,
    *,
    started: datetime,
    run_id: str | None,
    drafter: Drafter | None,
    transport: SlackTransport,
) -> dict[str, Any]:
    with open_con() as con:
        state.ensure_slack_tables(con)
        outbox.ensure_outbox(con)
        ranking = state.ranking(con)
        blocked = state.gate(con)
        unseen = state.new_alert_keys(con)
        ranking_as_of = ranking.as_of
        stale = ranking_as_of is not None and ranking_as_of.astimezone(UTC) < as_of

        gated = {alert_id: state.gate_reason(blocked, account_id) for alert_id, account_id in ranking.accounts.items()}
        gated = {k: v for k, v in gated.items() if v}
        new = [a for a in unseen if a["alert_id"] not in gated]
        # The cap is a dbt var (alert_max_realtime_per_cycle) carried on the ranking's rows; settings only
        # stand in for a ranking built without it.
        cap = ranking.realtime_cap if ranking.realtime_cap is not None else cfg.max_realtime_per_cycle
        new, realtime_overflow = cap_realtime(new, cap)
        # Only the top of the ranking may be drafted by the LLM: those few are read whole now, the rest
        # page by page below, where a template is their draft.
        eligible = drafted(new)[: max(cfg.max_llm_drafts, 0)]
        top = _whole(con, eligible)
    llm_drafts = make_drafts(top, cfg, drafter)
    draft_counts = {"llm": 0, "template": 0}

    realtime_queued = 0
    digest_info: dict[str, Any] = {"due": digest_due(as_of, cfg.digest_hour), "posted": False}
    with open_con() as con:
        con.execute("begin transaction")
        try:
            realtime_items: list[outbox.NewItem] = []
            for first in range(0, len(new), ALERT_PAGE):
                page = _whole(con, new[first:first + ALERT_PAGE])
                drafts = {str(a["alert_id"]): llm_drafts.get(str(a["alert_id"])) or over_budget(a)
                          for a in drafted(page)}
                for draft in drafts.values():
                    draft_counts[draft.source] = draft_counts.get(draft.source, 0) + 1
                realtime_items += _remember_page(con, page, drafts, cfg, as_of)
            realtime_queued = outbox.enqueue(con, state.CHANNEL, realtime_items, now=as_of, run_id=run_id)

            day = as_of.date()
            if digest_info["due"] and not state.digest_done(con, day):
                digest_info.update(_queue_digest(con, cfg, as_of, ranking, gated, run_id))
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    report = transport.deliver(open_con, run_id=run_id)

    if digest_info.get("item_id"):
        with open_con() as con:
            row = con.execute(
                "select status from ops.outbox where channel = ? and item_id = ?", [state.CHANNEL, digest_info["item_id"]]
            ).fetchone()
        digest_info["posted"] = bool(row and row[0] == outbox.SENT)

    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "alerts_current": len(ranking.accounts),
        # marts.csm_alerts built for an earlier clock (its dbt step failed?): still announced once, but say so
        "ranking_as_of": ranking_as_of.isoformat() if ranking_as_of is not None else None,
        "ranking_stale": stale,
        "alerts_new": len(new),
        "realtime_queued": realtime_queued,
        "realtime_overflow": realtime_overflow,
        "gated": len(gated),
        "gated_reasons": sorted(set(gated.values()))[:5],
        "drafts": draft_counts,
        "digest": digest_info,
        "delivery": report.as_dict(),
        "mode": "slack" if transport.token else "local outbox",
    }
    with open_con() as con:
        con.execute(
            """
            insert into ops.slack_runs (run_id, as_of, started_at, alerts_current, alerts_new, realtime_queued,
                digest_date, digest_alerts, gated, posted, failed, written_local, parked, summary)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::json)
            """,
            [run_id, as_of, started, len(ranking.accounts), len(new), realtime_queued,
             as_of.date() if digest_info.get("queued") else None, digest_info.get("alerts_total"),
             len(gated), report.posted, report.failed, report.written_local, len(report.parked),
             state.to_json(summary)],
        )
        summary["outbox"] = outbox.status_counts(con, state.CHANNEL)
    return summary


def _whole(con: Any, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts of `keys` (state.KEY_COLUMNS) read whole, in their order, each with the route the cycle gave
    it (cap_realtime may have sent a P0 to the digest)."""
    whole = state.alerts_by_id(con, [a["alert_id"] for a in keys])
    return [{**whole[a["alert_id"]], "route": a["route"]} for a in keys if a["alert_id"] in whole]


def _remember_page(
    con: Any, page: list[dict[str, Any]], drafts: Mapping[str, Draft], cfg: SlackSettings, as_of: datetime
) -> list[outbox.NewItem]:
    """Remember a page of new alerts (whole, in ranking order) and their drafts; the page's P0 messages."""
    realtime_items: list[outbox.NewItem] = []
    remembered: list[dict[str, Any]] = []
    draft_rows: list[dict[str, Any]] = []
    for alert in page:
        realtime = alert.get("route") == "realtime"
        item_id = f"alert:{alert['alert_id']}" if realtime else None
        remembered.append({
            **alert, "first_seen_as_of": as_of, "outbox_item_id": item_id, "context": alert,
            "status": state.REALTIME if realtime
            else state.NOT_ROUTED if alert.get("route") == "none"
            else state.DIGEST_PENDING,
        })
        draft = drafts.get(str(alert["alert_id"]))
        if draft is not None:
            draft_rows.append({
                "alert_id": alert["alert_id"], "account_id": alert["account_id"], "kind": alert["kind"],
                "stall_step": alert.get("stall_step") or alert.get("current_step"), "source": draft.source,
                "model": draft.model, "subject": draft.subject, "body": draft.body, "error": draft.error,
                "created_as_of": as_of,
            })
        if realtime and item_id:
            payload = alert_payload(alert, cfg.channel_alerts, draft.as_dict() if draft else None)
            # outbox order = ranking order: the most urgent P0 is posted first
            realtime_items.append(outbox.NewItem(item_id=item_id, kind=f"alert_{alert['kind']}",
                                                 payload=payload, account_id=alert["account_id"],
                                                 priority=int(alert.get("alert_rank") or 0)))
    state.remember_alerts(con, remembered)  # one statement each, not one per alert
    state.store_drafts(con, draft_rows)
    return realtime_items


def _queue_digest(
    con: Any,
    cfg: SlackSettings,
    as_of: datetime,
    ranking: state.Ranking,
    gated: Mapping[str, str | None],
    run_id: str | None,
) -> dict[str, Any]:
    """Build and queue today's digest from the pending digest alerts still true now; record the day."""
    day = as_of.date()
    waiting = state.pending_digest(con)
    stale = [i for i in waiting if i not in ranking.accounts]
    # Every pending alert is counted, but only the top `digest_max_items` can be listed: those are read
    # whole, the rest with what ranks and summarises them (a go-live's digest holds 10^5).
    current = state.alerts_by_id(con, [i for i in waiting if i in ranking.accounts and i not in gated],
                                 only=SUMMARY_COLUMNS)
    ranked = sorted(current.values(), key=rank_key)
    listed = state.alerts_by_id(con, [a["alert_id"] for a in ranked[: max(cfg.digest_max_items, 0)]])
    include = [listed.get(a["alert_id"], a) for a in ranked]
    if stale:
        state.set_status(con, stale, state.SUPERSEDED)
    realtime = state.realtime_since_last_digest(con)
    unrouted = state.unrouted_since_last_digest(con)
    item_id = None
    shown: list[str] = []
    summarised: list[str] = []
    if include:
        drafts = state.drafts_for(con, list(listed))
        payload, shown, summarised = build_digest(
            include, day, cfg.channel_digest, realtime_count=realtime, unrouted_count=unrouted, drafts=drafts,
            max_items=cfg.digest_max_items,
        )
        item_id = f"digest:{day.isoformat()}"
        outbox.enqueue(con, state.CHANNEL, [outbox.NewItem(item_id=item_id, kind="digest", payload=payload,
                                                           priority=DIGEST_PRIORITY)], now=as_of, run_id=run_id)
        state.set_status(con, shown + summarised, state.DIGESTED, digest_date=day)
    con.execute(
        """
        insert into ops.slack_digests (digest_date, as_of, item_id, channel, alerts_total, alerts_shown,
            alerts_summarised, realtime_since, created_at)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [day, as_of, item_id, cfg.channel_digest, len(include), len(shown), len(summarised), realtime,
         datetime.now(UTC)],
    )
    return {"queued": item_id is not None, "item_id": item_id, "alerts_total": len(include), "alerts_shown": len(shown),
            "alerts_summarised": len(summarised), "superseded": len(stale)}
