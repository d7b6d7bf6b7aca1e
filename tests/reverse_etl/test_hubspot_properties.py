"""What HubSpot receives for a row of marts.crm_accounts: pure functions, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dagster_project.defs.hubspot.resources import HubSpotResource
from reverse_etl.hubspot import properties as props
from reverse_etl.hubspot.settings import HubSpotSettings, paced_rate
from tests.servers.hubspot_warehouse import account


def test_company_and_contact_carry_the_onboarding_properties_in_hubspot_form() -> None:
    row = account(3, activated_at=datetime(2026, 11, 3, 10, 30, tzinfo=timezone(timedelta(hours=2))),
                  recovery_attempts=2, domain="https://www.Company3.Example.com/about")
    company = props.company_properties(row)
    assert company["onboarding_account_id"] == "acct_000003"
    assert company["domain"] == "company3.example.com"
    assert company["onboarding_activated_at"] == "2026-11-03T08:30:00.000Z"  # UTC, milliseconds
    assert company["onboarding_recovery_attempts"] == "2"
    assert company["onboarding_csm_owner"] == "csm_ana"
    for name in ("onboarding_track", "onboarding_lifecycle_stage", "onboarding_current_step"):
        assert company[name]
    contact = props.contact_properties(row)
    assert contact["email"] == "person3@company3.example.com"  # HubSpot keeps e-mails lower case
    assert (contact["firstname"], contact["lastname"], contact["jobtitle"]) == ("Ada", "Person 3", "CTO")
    assert contact["onboarding_lifecycle_stage"] == company["onboarding_lifecycle_stage"]


@pytest.mark.parametrize("microsecond", [0, 1_999, 789_123])
def test_one_instant_is_one_text_whatever_form_it_comes_in(microsecond: int) -> None:
    # A naive timestamp is UTC (the syncs hand them over so): it formats as its aware forms do.
    naive = datetime(2026, 11, 3, 8, 30, 5, microsecond)
    aware = naive.replace(tzinfo=UTC)
    forms = [naive, aware, aware.astimezone(timezone(timedelta(hours=-5))), aware.isoformat(), aware.timestamp()]
    texts = {props.hubspot_value("activated_at", form) for form in forms}
    assert texts == {f"2026-11-03T08:30:05.{microsecond // 1000:03d}Z"}


def test_a_null_clears_only_what_was_set_and_identity_always_travels() -> None:
    delivered = {"onboarding_account_id": "a1", "onboarding_csm_owner": "csm_ana", "name": "Acme"}
    current = {"onboarding_account_id": "a1", "onboarding_csm_owner": "", "name": "Acme",
               "onboarding_activated_at": ""}
    assert props.changed(current, delivered, always=("onboarding_account_id",)) == {
        "onboarding_account_id": "a1",
        "onboarding_csm_owner": "",  # was set: cleared with ""
    }  # activated_at was never set and is empty: not sent; name unchanged: not sent
    assert props.changed(current, None, always=("onboarding_account_id",)) == {
        "onboarding_account_id": "a1", "name": "Acme"}


@pytest.mark.parametrize("email", [None, "", "no-at-sign", "a@localhost", "two words@x.com"])
def test_a_contact_without_a_usable_email_is_invalid(email: str | None) -> None:
    with pytest.raises(props.InvalidRecord):
        props.contact_properties(account(1, email=email))


def test_the_account_id_property_is_unique_on_companies_only() -> None:
    companies = {d["name"]: d for d in props.property_definitions("companies")}
    contacts = {d["name"]: d for d in props.property_definitions("contacts")}
    assert companies["onboarding_account_id"].get("hasUniqueValue") is True
    assert "hasUniqueValue" not in contacts["onboarding_account_id"]
    assert companies["onboarding_activated_at"]["type"] == "datetime"
    assert companies["onboarding_recovery_attempts"]["type"] == "number"
    assert set(companies) == set(contacts)


def test_pacing_stays_under_the_rolling_ten_second_limit_and_settings_refuse_oversized_batches() -> None:
    assert paced_rate(100, 10.0, 0.95) * 10 <= 98.5
    assert paced_rate(190, 10.0, 0.95) * 10 < 190
    with pytest.raises(ValueError, match="batch size"):
        HubSpotSettings(batch_size=101)
    with pytest.raises(ValueError, match="HUBSPOT_API_URL"):
        HubSpotSettings(api_url="api.hubapi.com")
    assert "pat-secret" not in repr(HubSpotSettings(access_token="pat-secret"))


def test_the_resource_reads_the_contract_variables_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("HUBSPOT_API_URL", raising=False)
    assert not HubSpotResource().settings().has_credentials
    assert HubSpotResource().settings().api_url == "https://api.hubapi.com"
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-x")
    monkeypatch.setenv("HUBSPOT_API_URL", "http://127.0.0.1:9/")
    settings = HubSpotResource().settings()
    assert settings.has_credentials and settings.host == "http://127.0.0.1:9"


def test_rows_with_naive_utc_timestamps_shape_exactly_as_zone_aware_ones() -> None:
    """The plan hands the shapers naive UTC timestamps (runs.python_rows, cheaper to build): same properties."""
    from datetime import UTC

    import pyarrow as pa

    from reverse_etl import runs
    from reverse_etl.hubspot import sync

    moments = [datetime(2026, 9, 1, 12, 30, 15, 123456, tzinfo=UTC), None,
               datetime(2026, 9, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))]
    batch = pa.RecordBatch.from_pydict({
        "account_id": ["a1", "a2", "a3"], "company_name": ["A", None, "C"], "domain": ["www.A.com", "", None],
        "recovery_attempts": [1, None, 0], "_row_hash": ["h1", "h2", "h3"],
        "signup_at": pa.array(moments, type=pa.timestamp("us", tz="UTC")),
        "activated_at": pa.array(moments, type=pa.timestamp("us", tz="America/New_York")),
    })
    rows = runs.python_rows(batch)
    assert all(r["signup_at"] is None or r["signup_at"].tzinfo is None for r in rows)
    assert [sync._shape("company", r) for r in rows] == [sync._shape("company", r) for r in batch.to_pylist()]
    assert "as_of" not in runs.python_rows(batch.append_column("as_of", batch.column("signup_at")), drop=("as_of",))[0]
