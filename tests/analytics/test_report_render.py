"""The page renderer alone (pure, no warehouse): fast checks of what the report promises."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from dagster_project.defs.reports.render import Figures, render_html

AS_OF = datetime(2026, 10, 6, tzinfo=UTC)


def _figures() -> Figures:
    lift = pd.DataFrame([
        {"track": t, "treated_accounts": 100, "treated_activated": 50, "treated_rate": 0.5, "treated_ci_low": 0.4,
         "treated_ci_high": 0.6, "holdout_accounts": 20, "holdout_activated": 8, "holdout_rate": 0.4,
         "holdout_ci_low": 0.2, "holdout_ci_high": 0.6, "lift": 0.1, "lift_ci_low": -0.1, "lift_ci_high": 0.3,
         "is_significant": False, "as_of": AS_OF}
        for t in ("high_touch", "standard", "self_serve", "all")
    ])
    distribution = pd.DataFrame([
        {"signup_week": date(2026, 9, 7), "track": "standard", "accounts": 2, "week_accounts": 3, "share": 2 / 3},
        {"signup_week": date(2026, 9, 7), "track": "<!channel> Corp", "accounts": 1, "week_accounts": 3, "share": 1 / 3},
    ])
    return Figures(tables={"holdout_lift": lift, "path_distribution": distribution[:1]}, as_of=AS_OF)


def test_an_empty_warehouse_renders_a_page_that_says_so() -> None:
    page = render_html(Figures())
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    assert "no data yet" in page and "<svg" not in page
    assert "as_of): unknown" in page


def test_charts_are_inline_svg_and_the_headline_is_the_measured_lift() -> None:
    page = render_html(_figures())
    assert page.count("<figure class='chart'") == 2
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page  # inlined, not embedded documents
    assert "Measured lift of the automation: <b>+10.0%</b>" in page
    assert "95% CI -10.0% to +30.0%" in page
    assert "2026-10-06 00:00 UTC" in page


def test_the_same_figures_give_the_same_bytes() -> None:
    assert render_html(_figures()) == render_html(_figures())


def test_text_from_the_warehouse_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    by_path = pd.DataFrame([
        {"track": hostile, "signup_week": date(2026, 9, 7), "accounts": 1, "eligible_accounts": 1,
         "activated_within_14d": 1, "activation_rate": 1.0, "median_hours_to_activation": 1.0, "stalled": 0,
         "stall_rate": 0.0, "recovered": 0},
        {"track": "standard", "signup_week": date(2026, 9, 7), "accounts": 1, "eligible_accounts": 1,
         "activated_within_14d": 1, "activation_rate": 1.0, "median_hours_to_activation": 1.0, "stalled": 0,
         "stall_rate": 0.0, "recovered": 0},
    ])
    page = render_html(Figures(tables={"activation_by_path": by_path}, as_of=AS_OF))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _rows(page: str, mart: str) -> list[list[str]]:
    """The body cells of one table of the page (the renderer writes one <tr> per row, no nesting)."""
    table = page.split(f"<table data-mart='{mart}'>", 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [[cell.split("</td>", 1)[0] for cell in row.split("<td>")[1:]] for row in body.split("<tr>")[1:]]


def test_activation_rows_read_by_week_then_track_dates_as_dates_partial_weeks_marked() -> None:
    def row(week: str, track: str, partial: bool, status: str, eligible: int, rate: float | None) -> dict:
        return {"track": track, "signup_week": pd.Timestamp(week), "is_partial_week": partial,
                "window_status": status, "accounts": 10, "eligible_accounts": eligible,
                "activated_within_14d": 0 if rate is None else round(rate * eligible), "activation_rate": rate,
                "median_hours_to_activation": None, "stalled": 1, "stall_rate": 0.1, "recovered": 0}

    by_path = pd.DataFrame([  # as a SQL client may return them: unordered, weeks as timestamps
        row("2026-11-23", "standard", True, "open", 0, None),
        row("2026-11-02", "self_serve", False, "closed", 10, 0.3),
        row("2026-10-26", "standard", True, "closed", 10, 0.5),
        row("2026-11-02", "high_touch", False, "partial", 5, 0.4),
        row("2026-11-02", "standard", False, "closed", 10, 0.6),
    ])
    page = render_html(Figures(tables={"activation_by_path": by_path}, as_of=AS_OF))
    rows = _rows(page, "activation_by_path")
    assert [(r[0], r[1]) for r in rows] == [
        ("2026-10-26 (partial)", "standard"), ("2026-11-02", "high_touch"), ("2026-11-02", "standard"),
        ("2026-11-02", "self_serve"), ("2026-11-23 (partial)", "standard")]
    assert "00:00:00" not in page
    rates = [r[6] for r in rows]
    assert rates == ["50.0%", "40.0% (so far)", "60.0%", "30.0%", "window open"]


def test_roi_gives_dollars_only_for_a_significant_lift() -> None:
    def row(track: str, lift: float, low: float, high: float, significant: bool) -> dict:
        value = 1000 * lift * 500 if significant else None
        return {"track": track, "accounts": 100, "new_customers_per_year": 1000, "arpu": 500,
                "activation_lift": lift, "activation_lift_ci_low": low, "activation_lift_ci_high": high,
                "lift_status": ("positive" if low > 0 else "negative") if significant else "not significant",
                "is_lift_significant": significant, "activation_value": value,
                "activation_value_ci_low": value and 1000 * low * 500, "activation_value_ci_high": value and 1000 * high * 500,
                "csm_value": 9750.0, "tooling_cost_per_year": 0.0, "net_value": value and value + 9750.0}

    roi = pd.DataFrame([row("all", 0.05, -0.01, 0.11, False), row("standard", 0.08, 0.02, 0.14, True)])
    rows = _rows(render_html(Figures(tables={"onboarding_roi": roi}, as_of=AS_OF)), "onboarding_roi")
    assert [r[0] for r in rows] == ["standard", "all"]
    standard, overall = rows
    assert standard[4] == "+8.0% (+2.0% to +14.0%)"
    assert standard[5] == "$40.0K ($10.0K to $70.0K)" and standard[8] == "$49.8K"
    assert overall[4] == "+5.0% (-1.0% to +11.0%)"
    assert overall[5] == "not significant" and overall[8] == "not significant"
