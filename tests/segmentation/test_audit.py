"""The monthly accuracy audit: sample to label, labels dropped back, accuracy per track, alert below 90 %."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.segmentation import audit
from dagster_project.lib import warehouse

AS_OF = datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_customer_text_never_becomes_a_spreadsheet_formula() -> None:
    assert audit.csv_safe('=HYPERLINK("http://x")') == "'=HYPERLINK(\"http://x\")"
    assert audit.csv_safe("@here Analytics") == "'@here Analytics"
    assert audit.csv_safe("Acme") == "Acme" and audit.csv_safe(3) == 3


def test_accuracy_is_per_true_track_and_overall() -> None:
    pairs = [("standard", "high_touch"), ("high_touch", "high_touch"), ("standard", "standard"),
             ("standard", "standard"), ("self_serve", "self_serve")]
    scores = audit.accuracy_by_track(pairs)
    assert (scores["high_touch"].labelled, scores["high_touch"].accuracy) == (2, 0.5)
    assert scores["standard"].accuracy == 1.0 and scores["all"].accuracy == pytest.approx(0.8)


@pytest.fixture
def con(tmp_path: Path):
    """The two relations the audit reads, as dbt builds them, for 60 recent and 5 old signups."""
    with warehouse.connect(tmp_path / "wh.duckdb") as connection:
        connection.execute("create schema intermediate")
        connection.execute(
            """
            create table intermediate.int_accounts_enriched as
            select 'acc_' || lpad(i::varchar, 3, '0') as account_id,
                   case when i = 7 then '=HYPERLINK("http://x")' else 'Company ' || i end as company_name,
                   ?::timestamptz - to_days(case when i < 60 then i % 25 else 90 end) as signup_at,
                   'pro' as plan_tier, 500.0 as mrr, 6000.0 as arr, 30 as employees, 'software' as industry,
                   'US' as country, 'organic' as source, 'reporting' as use_case, 'seed' as funding_stage,
                   1 as early_activation_steps
            from range(65) t(i)
            """,
            [AS_OF],
        )
        connection.execute(
            """
            create table intermediate.int_accounts_segmented as
            select account_id, case when account_id < 'acc_010' then 'high_touch' else 'standard' end as track,
                   'rules' as track_source, null::double as track_confidence, 'rules: default path' as track_reason,
                   40 as icp_score
            from intermediate.int_accounts_enriched
            """
        )
        audit.ensure_tables(connection)
        yield connection


def label(path: Path, out: Path, wrong: int) -> None:
    """A reviewer's file: the sample with human_label filled, `wrong` of them disagreeing."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for i, row in enumerate(rows):
        row["human_label"] = row["assigned_track"] if i >= wrong else "self-serve"
        row["labelled_by"] = "cs-team"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_monthly_sample_labels_accuracy_and_alert(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    directory = tmp_path / "reports" / "segmentation_audit"
    path = audit.draw_sample(con, AS_OF, directory, 50)
    assert path == directory / "2026-11" / "sample.csv"
    with path.open(newline="") as handle:
        sample = list(csv.DictReader(handle))
    assert len(sample) == 50 and all(row["human_label"] == "" for row in sample)
    assert all(int(row["account_id"][4:]) < 60 for row in sample)  # only the last 30 days' signups
    assert all(not row["company_name"].startswith("=") for row in sample)
    assert audit.draw_sample(con, AS_OF + timedelta(days=3), directory, 50) is None  # once a month

    assert audit.load_labels_and_score(con, AS_OF, directory, 0.9) == {}  # nothing labelled yet
    label(path, path.parent / "labels.csv", wrong=3)
    scores = audit.load_labels_and_score(con, AS_OF, directory, 0.9)["2026-11"]
    assert scores["all"].labelled == 50 and scores["all"].accuracy == pytest.approx(0.94)
    assert con.execute("select count(*) from ops.segmentation_alerts").fetchone()[0] == 0

    label(path, path.parent / "labels.csv", wrong=10)  # the reviewer corrects their file: 80 %
    audit.load_labels_and_score(con, AS_OF + timedelta(hours=1), directory, 0.9)
    audit.load_labels_and_score(con, AS_OF + timedelta(hours=2), directory, 0.9)
    alerts = con.execute("select audit_month, accuracy, message from ops.segmentation_alerts").fetchall()
    assert len(alerts) == 1 and alerts[0][:2] == ("2026-11", pytest.approx(0.8)) and "below 90%" in alerts[0][2]
    series = dict(con.execute("select track, accuracy from ops.segmentation_accuracy").fetchall())
    assert series["all"] == pytest.approx(0.8)


def test_the_audit_asset_and_its_check(con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch) -> None:
    import dagster as dg

    from dagster_project.defs.segmentation.assets import segmentation_accuracy, segmentation_accuracy_check
    from dagster_project.lib.resources import WarehouseResource

    monkeypatch.setenv("ONBOARDING_HOME", str(tmp_path / "home"))
    path = tmp_path / "wh.duckdb"
    con.close()  # the asset opens the warehouse itself
    resources = {"warehouse": WarehouseResource(path=str(path))}
    tags = {"onboarding/as_of": "2026-11-20T09:00:00Z"}
    first = dg.materialize([segmentation_accuracy, segmentation_accuracy_check], resources=resources, tags=tags)
    sample = tmp_path / "home" / "reports" / "segmentation_audit" / "2026-11" / "sample.csv"
    assert first.success and sample.exists()
    assert first.get_asset_check_evaluations()[0].passed  # nothing labelled yet
    label(sample, sample.parent / "labels.csv", wrong=10)
    second = dg.materialize([segmentation_accuracy, segmentation_accuracy_check], resources=resources, tags=tags)
    metadata = second.asset_materializations_for_node("ops__segmentation_accuracy")[0].metadata
    assert metadata["accuracy_all"].value == pytest.approx(0.8) and metadata["alerts_total"].value == 1
    evaluation = second.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
