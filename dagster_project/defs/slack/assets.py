"""The Slack sync as a Dagster asset: after the ranking (marts.csm_alerts), before the cycle summary.

Materialises what one cycle did for the CS team (new status changes, P0s queued, whether today's
digest went out, what was delivered or is still queued) so the UI shows it per cycle; the details are
in ops.slack_alerts / ops.slack_digests / ops.slack_runs and delivery in ops.outbox (channel 'slack').
Delivery trouble (bad token, parked messages) is a WARN check, not a failed cycle: the CLI's exit code
is about the cycle running, and queued messages are retried next hour.
"""

import dagster as dg

from dagster_project.defs.slack.resources import SlackResource
from dagster_project.lib import config
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource
from reverse_etl import outbox
from reverse_etl.slack import run_slack_cycle

SLACK_ALERTS = dg.AssetKey(["slack_alerts"])
INPUTS = [dg.AssetKey(["marts", "csm_alerts"]), dg.AssetKey(["marts", "customer_onboarding_state"])]
DELIVERY_CHECK = "slack_delivery_healthy"


@dg.asset(
    key=SLACK_ALERTS,
    deps=INPUTS,
    group_name="reverse_etl",
    kinds={"slack", "duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            DELIVERY_CHECK,
            asset=SLACK_ALERTS,
            description="Slack accepts our token and no Slack message is parked (retries exhausted or rejected).",
        )
    ],
)
def slack_alerts(
    context: dg.AssetExecutionContext, slack: SlackResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Post new P0 alerts in real time, the daily digest at the digest hour, with AI-drafted recovery e-mails."""
    as_of = as_of_for(context)
    summary = run_slack_cycle(warehouse.connect, as_of, slack.settings(), run_id=context.run.run_id)
    delivery = summary["delivery"]
    digest = summary["digest"]
    if summary["ranking_stale"]:
        context.log.warning(
            f"marts.csm_alerts was built for {summary['ranking_as_of']}, before this cycle's clock: "
            "did the dbt journey step fail?"
        )
    if summary["gated"]:
        context.log.warning(
            f"send gate held back {summary['gated']} Slack alerts: " + "; ".join(summary["gated_reasons"])
        )
    if delivery["auth_error"]:
        context.log.error(f"Slack refused the token ({delivery['auth_error']}); messages stay queued")
    counts = summary["outbox"]  # counted at the end of the cycle's Slack work, on its last connection
    metadata = {
        "mode": summary["mode"],
        "alerts_current": summary["alerts_current"],
        "alerts_new": summary["alerts_new"],
        "realtime_queued": summary["realtime_queued"],
        "realtime_over_cap_to_digest": summary["realtime_overflow"],
        "digest_posted": bool(digest.get("posted")) or bool(digest.get("queued") and summary["mode"] != "slack"),
        "digest_alerts": digest.get("alerts_total", 0),
        "digest_summarised": digest.get("alerts_summarised", 0),
        "posted": delivery["posted"],
        "written_local": delivery["written_local"],
        "failed": delivery["failed"],
        "queued": counts[outbox.PENDING],
        "parked": counts[outbox.PARKED],
        "rate_limited_429": delivery["rate_limited"],
        "gated": summary["gated"],
        "ranking_stale": summary["ranking_stale"],
        "drafts": dg.MetadataValue.json(summary["drafts"]),
        "as_of": config.iso(as_of),
    }
    healthy = not delivery["auth_error"] and counts[outbox.PARKED] == 0
    check = dg.AssetCheckResult(
        check_name=DELIVERY_CHECK,
        asset_key=SLACK_ALERTS,
        passed=healthy,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parked": counts[outbox.PARKED], "auth_error": delivery["auth_error"] or ""},
        description=None
        if healthy
        else "Slack delivery needs a person: check SLACK_BOT_TOKEN, or fix and requeue parked items "
        "in ops.outbox (channel 'slack')",
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
