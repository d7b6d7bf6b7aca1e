"""The HubSpot sync inside the real hourly cycle, without a token: the CRM outbox of the shared workspace.

Every cycle of the session's workspace ran with HUBSPOT_ACCESS_TOKEN unset, so every CRM operation
went to $ONBOARDING_HOME/outbox/hubspot.jsonl and ops tables, exactly as it would have been sent.
"""

from __future__ import annotations

import json

from reverse_etl.hubspot import properties as props
from tests.cycle.conftest import CLOCKS


def _lines(workspace) -> list[dict]:
    path = workspace.root / "outbox" / "hubspot.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _delivered_accounts(workspace) -> list[dict]:
    """Accounts of the mart whose CRM operations all went out: the send gate holds the others back."""
    held = {r[0] for r in workspace.query(
        "select distinct account_id from ops.outbox where channel = 'hubspot' and status <> 'sent'")}
    gated = {r[0] for r in workspace.query("select distinct account_id from ops.send_gate")}
    assert held <= gated or "*" in gated  # only the gate keeps anything pending
    return [a for a in workspace.dicts("select * from marts.crm_accounts") if a["account_id"] not in held]


def test_every_account_becomes_one_company_with_its_contact_associated(workspace):
    lines = _lines(workspace)
    accounts = _delivered_accounts(workspace)
    assert accounts and {line["as_of"] for line in lines} <= {c.isoformat() for c in CLOCKS}
    companies = {x["input"]["id"] for x in lines if x["object"] == "company"}
    assert companies >= {a["account_id"] for a in accounts}
    with_contact = [a for a in accounts if a["email"]]
    associations = {(x["input"]["to"]["id"], x["input"]["from"]["id"]) for x in lines if x["object"] == "association"}
    assert associations >= {(a["account_id"], a["person_id"]) for a in with_contact}
    contacts = {x["input"]["id"] for x in lines if x["object"] == "contact"}
    assert contacts >= {a["email"] for a in with_contact}  # matched by e-mail, lower case
    assert len(companies) == len({x["item_id"] for x in lines if x["object"] == "company"})
    assert all(x["endpoint"].startswith("/crm/v") for x in lines)


def test_replaying_the_sent_changes_gives_the_crm_the_current_state(workspace):
    """Only changes were sent, cycle after cycle; applied in order they equal the mart as of the last cycle."""
    crm: dict[str, dict[str, str]] = {}
    for line in _lines(workspace):
        if line["object"] == "company":
            crm.setdefault(line["input"]["id"], {}).update(line["input"]["properties"])
    accounts = _delivered_accounts(workspace)
    company_lines = [x for x in _lines(workspace) if x["object"] == "company"]
    assert len(CLOCKS) == 1 or len(company_lines) < len(CLOCKS) * len(accounts)  # not a resend per cycle
    for account in accounts:
        expected = {k: v for k, v in props.company_properties(account).items() if v != ""}
        assert {k: v for k, v in crm[account["account_id"]].items() if v != ""} == expected
    runs = workspace.query("select mode, status, count(*) from ops.sync_runs where channel = 'hubspot' group by all")
    assert len(runs) == 1 and runs[0][:2] == ("outbox", "success") and runs[0][2] >= len(CLOCKS)


def test_the_cycle_summary_reports_the_crm_sync(workspace):
    line = workspace.results[0].summary["sends"].get("hubspot_sync", "")
    assert "mode outbox" in line and "planned companies" in line
