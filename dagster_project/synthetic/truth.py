"""The ground truth of one account, recomputed from the messages that were kept.

Tests compare the pipeline's derived state with these rows, so every time here is an event
timestamp (never receivedAt) of a message that is really in the landing files: a planted step
that the end of the window cut off is absent here too.
"""

from __future__ import annotations

from typing import Any

from dagster_project.synthetic import catalog as c
from dagster_project.synthetic.clock import iso_ms
from dagster_project.synthetic.plan import AccountPlan

COLUMNS = (
    "account_id",
    "primary_user_id",
    "company_name",
    "plan_tier",
    "mrr",
    "employees",
    "industry",
    "country",
    "source",
    "use_case",
    "intended_track",
    "persona",
    "signup_at",
    "kickoff_booked_at",
    "project_created_at",
    "teammate_invited_at",
    "integration_connected_at",
    "report_shared_at",
    "activated_at",
    "stall_event",
    "suppression_reason",
    "suppressed_at",
    "unsubscribed_at",
    "upgraded_at",
    "upgraded_to_tier",
    "upgraded_mrr",
    # beyond the brief: the planted behaviour (activate|stall|inactive|suppressed) and users who joined
    "behaviour",
    "users",
    # the planted lift: in dbt's holdout, and a holdout account that stalled instead of activating
    "holdout",
    "holdout_missed_activation",
)

ENRICHMENT_COLUMNS = (
    "account_id",
    "domain",
    "employees",
    "industry",
    "country",
    "funding_stage",
    "tech_stack",
    "founded_year",
    "annual_revenue_usd",
)

_FIRSTS = (
    "signup_completed", "kickoff_booked", *c.ACTIVATION_EVENTS, "report_shared",
    *c.SUPPRESSION_EVENTS, "email_unsubscribed", "plan_changed",
)


def truth_row(plan: AccountPlan, kept: list[tuple[int, dict[str, Any]]], end_ms: int) -> dict[str, str]:
    """One CSV row; `kept` is the account's kept messages as (timestamp ms, message), time-sorted."""
    first: dict[str, int] = {}
    first_props: dict[str, dict[str, Any]] = {}
    for ts, message in kept:
        event = message.get("event")
        if event in _FIRSTS and event not in first:
            first[event] = ts
            first_props[event] = message.get("properties", {})

    def at(event: str) -> str:
        return iso_ms(first[event]) if event in first else ""

    steps = [first.get(e) for e in c.ACTIVATION_EVENTS]
    activated = iso_ms(max(steps)) if all(t is not None for t in steps) else ""  # type: ignore[type-var]
    stall_event = ""
    if plan.behaviour in ("stall", "inactive"):
        stall_event = next((e for e in c.ACTIVATION_EVENTS if e not in first), "")
    suppression = [(first[e], reason) for e, reason in c.SUPPRESSION_EVENTS.items() if e in first]
    suppressed_at, suppression_reason = (iso_ms(min(suppression)[0]), min(suppression)[1]) if suppression else ("", "")
    upgrade = first_props.get("plan_changed", {})
    return {
        "account_id": plan.account_id,
        "primary_user_id": plan.users[0].user_id,
        "company_name": plan.company_name,
        "plan_tier": plan.plan_tier,
        "mrr": str(plan.mrr),
        "employees": str(plan.employees),
        "industry": plan.industry,
        "country": plan.country,
        "source": plan.source,
        "use_case": plan.use_case,
        "intended_track": plan.intended_track,
        "persona": plan.persona,
        "signup_at": at("signup_completed"),
        "kickoff_booked_at": at("kickoff_booked"),
        "project_created_at": at("project_created"),
        "teammate_invited_at": at("teammate_invited"),
        "integration_connected_at": at("integration_connected"),
        "report_shared_at": at("report_shared"),
        "activated_at": activated,
        "stall_event": stall_event,
        "suppression_reason": suppression_reason,
        "suppressed_at": suppressed_at,
        "unsubscribed_at": at("email_unsubscribed"),
        "upgraded_at": at("plan_changed"),
        "upgraded_to_tier": str(upgrade.get("to_tier", "")),
        "upgraded_mrr": str(upgrade.get("mrr", "")),
        "behaviour": plan.behaviour,
        "users": "",  # filled by the caller, who knows who joined before the end
        "holdout": "true" if plan.holdout else "false",
        "holdout_missed_activation": "true" if plan.missed_activation else "false",
    }
