"""The page renderer alone (pure, no warehouse): fast checks of what the report promises."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from dagster_project.report import Figures, render_html

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
