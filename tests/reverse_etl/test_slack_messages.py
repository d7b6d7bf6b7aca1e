"""Pure message building: escaping of customer text, Block Kit limits, the digest's packing and overflow."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from reverse_etl.slack import limits
from reverse_etl.slack.blocks import alert_payload
from reverse_etl.slack.digest import build_digest
from reverse_etl.slack.escape import clip, customer_text, escape, safe_url
from tests.servers.slack_server import block_errors

AS_OF = datetime(2026, 11, 10, 10, tzinfo=UTC)
HOSTILE = "<!channel> & <https://evil.example|click> <@U999> Corp"


def alert(i: int = 1, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "alert_id": f"a{i:04d}",
        "account_id": f"acct_{i}",
        "kind": "stalled",
        "priority": "P1",
        "route": "digest",
        "alert_rank": i,
        "risk_score": 1000.0 - i,
        "company_name": f"Company {i}",
        "plan_tier": "pro",
        "mrr": 1000.0,
        "arr": 12000.0,
        "track": "standard",
        "track_source": "rules",
        "lifecycle_stage": "stalled",
        "csm_owner": "csm_chloe",
        "csm_name": "Chloe Martin",
        "csm_slack_user_id": "U01CHL0003",
        "csm_booking_url": "https://cal.example.com/chloe",
        "current_step": "invite_teammate",
        "stall_step": "invite_teammate",
        "steps_done": ["welcome_first_project"],
        "steps_todo": ["invite_teammate", "connect_integration"],
        "steps_completed": 1,
        "steps_total": 3,
        "hours_stalled": 72.0,
        "severity_hours": 72.0,
        "triggers_sent": ["onboarding_step_due welcome_first_project (2026-11-05)"],
        "stalled_since": datetime(2026, 11, 7, 10, tzinfo=UTC),
        "signup_at": datetime(2026, 11, 5, 9, tzinfo=UTC),
        "as_of": AS_OF,
    }
    row.update(values)
    return row


def all_text(payload: dict) -> str:
    """Every string Slack would parse as mrkdwn in a payload."""
    parts = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        for f in block.get("fields", []) + block.get("elements", []):
            parts.append(f["text"])
    return "\n".join(parts)


def test_escape_makes_mentions_and_links_inert() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert escape("&amp;") == "&amp;amp;"  # escaped once, literally, not interpreted
    # clipping happens before escaping, so an entity is never cut in half
    assert customer_text("&" * 200, limit=10).count("&amp;") == 9
    assert clip("a" * 50 + " tail", 20).endswith("…")
    assert safe_url("https://cal.example.com/ana") == "https://cal.example.com/ana"
    assert safe_url("https://x.example/<!channel>") is None
    assert safe_url("javascript:alert(1)") is None


@pytest.mark.parametrize("kind", ["stalled", "checkpoint_missed", "win_back", "high_touch_signup", "recovered"])
def test_hostile_company_name_never_pings_or_links(kind: str) -> None:
    payload = alert_payload(
        alert(kind=kind, company_name=HOSTILE, account_id="<!here>"),
        "#cs-alerts",
        {"subject": "Hi <!channel>", "body": "see <https://evil.example|this>", "source": "llm"},
    )
    text = all_text(payload)
    for raw in ("<!channel>", "<!here>", "<https://evil", "<@U999>"):
        assert raw not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    # the only mention is the CSM from the roster; every mrkdwn object is verbatim (no auto-linking)
    assert text.count("<@") == 1 and "<@U01CHL0003>" in text
    for block in payload["blocks"]:
        for obj in [block.get("text", {})] + block.get("fields", []) + block.get("elements", []):
            if obj.get("type") == "mrkdwn":
                assert obj["verbatim"] is True
    assert "Company" not in payload["text"] and HOSTILE not in payload["text"]  # fallback has no customer text
    assert block_errors(payload["blocks"]) == []


def test_alert_carries_full_context() -> None:
    payload = alert_payload(alert(priority="P0", route="realtime", arr=60000.0), "#cs-alerts",
                            {"subject": "A hand", "body": "Hi there", "source": "template"})
    text = all_text(payload)
    for expected in ("Company 1", "pro", "$60,000", "standard", "Chloe Martin", "<@U01CHL0003>",
                     "`welcome_first_project`", "`invite_teammate`", "`connect_integration`",
                     "3.0 days", "onboarding_step_due welcome_first_project (2026-11-05)",
                     "template draft", "A hand"):
        assert expected in text, expected


def test_high_touch_ping_links_the_csm_booking_page_only() -> None:
    payload = alert_payload(alert(kind="high_touch_signup", priority="P0", company_name="https://evil.example"),
                            "#cs-alerts")
    text = all_text(payload)
    assert "<https://cal.example.com/chloe|priority booking link>" in text
    assert text.count("<https://") == 1  # the customer's URL-looking name is not a link


def test_digest_ranked_grouped_by_csm_and_within_limits() -> None:
    alerts = [alert(i, priority="P1" if i % 3 == 0 else "FYI",
                    csm_owner=f"csm_{i % 4}", csm_name=f"CSM {i % 4}", csm_slack_user_id=f"U{i % 4}")
              for i in range(1, 13)]
    payload, shown, summarised = build_digest(alerts, date(2026, 11, 10), "#cs-digest", realtime_count=2)
    assert summarised == [] and len(shown) == 12
    # P1s come before FYIs; each CSM appears once, in order of their best alert
    assert shown[:4] == ["a0003", "a0006", "a0009", "a0012"]
    text = all_text(payload)
    heads = [line for line in text.splitlines() if line.startswith("*CSM")]
    assert len(heads) == 4
    assert "2 P0 alerts went out in real time" in text
    assert "automation sent 1, last: onboarding_step_due welcome_first_project (2026-11-05)" in text
    assert block_errors(payload["blocks"]) == []


def test_digest_overflow_is_summarised_never_cut() -> None:
    alerts = [alert(i, priority="P1" if i <= 30 else "FYI", company_name="Long name " * 8,
                    csm_owner=f"csm_{i % 60}", csm_name=f"CSM {i % 60}", csm_slack_user_id=f"U{i % 60}")
              for i in range(1, 401)]
    payload, shown, summarised = build_digest(alerts, date(2026, 11, 10), "#cs-digest")
    blocks = payload["blocks"]
    assert len(blocks) <= limits.MAX_BLOCKS
    assert block_errors(blocks) == []
    assert shown and summarised and len(shown) + len(summarised) == 400
    assert shown == [f"a{i:04d}" for i in range(1, len(shown) + 1)]  # the top of the ranking is kept
    overflow = blocks[-1]["elements"][0]["text"]
    assert overflow.startswith("…and ")
    n_fyi = sum(1 for a in alerts if a["alert_id"] in summarised and a["priority"] == "FYI")
    assert f"{n_fyi} more FYI accounts" in overflow
    # every shown account is on the page as a whole line
    text = all_text(payload)
    for i in range(1, len(shown) + 1):
        assert f"\n{i}. `" in text


def test_digest_packs_one_csm_with_many_accounts_into_several_sections() -> None:
    alerts = [alert(i, company_name="X" * 80) for i in range(1, 60)]
    payload, shown, summarised = build_digest(alerts, date(2026, 11, 10), "#cs-digest", max_items=100)
    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    assert len(sections) > 1
    assert all(len(s["text"]["text"]) <= limits.MAX_SECTION_TEXT for s in sections)
    assert len(shown) == 59 and not summarised


def test_digest_shows_at_most_max_items_lines() -> None:
    alerts = [alert(i, priority="FYI") for i in range(1, 31)]
    payload, shown, summarised = build_digest(alerts, date(2026, 11, 10), "#cs-digest", max_items=10)
    assert shown == [f"a{i:04d}" for i in range(1, 11)] and len(summarised) == 20
    assert "…and 20 more FYI accounts (Chloe Martin: 20)" in all_text(payload)


def test_digest_line_of_a_high_touch_signup_carries_the_booking_link() -> None:
    alerts = [alert(1, kind="high_touch_signup", csm_booking_url="https://cal.example.com/ana/priority"),
              alert(2, kind="high_touch_signup", csm_booking_url="javascript:alert(1)")]
    payload, _, _ = build_digest(alerts, date(2026, 11, 10), "#cs-digest")
    text = all_text(payload)
    assert "<https://cal.example.com/ana/priority|priority booking link>" in text
    assert text.count("priority booking link") == 1  # an unsafe URL is never linked
