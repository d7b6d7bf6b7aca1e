"""`onboarding report`: the HTML renders from the marts, a headless chromium opens it, finds its charts,
lays it out in a 1280 px window without horizontal overflow or a legend over a plot, and reads its rows in
order; the Dagster asset writes it and attaches its path (off the hourly job)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.reports import render as report
from dagster_project.lib.resources import WarehouseResource
from tests.analytics.browser import dump_dom, ensure_chromium, layout
from tests.analytics.conftest import CLOCKS, START, AnalyticsWorkspace
from tests.cycle.conftest import home

pytestmark = pytest.mark.slow  # the session workspace: generation and two full cycles
CHARTS = {"path_distribution", "activation_by_path", "holdout_lift", "stall_by_step", "time_to_first_value",
          "csm_workload_daily"}
WITH_LEGEND = CHARTS - {"stall_by_step"}  # bars coloured by track with the track in the tick label
TRACK_RANK = {"high_touch": 0, "standard": 1, "self_serve": 2, "all": 3}
WIDTH = 1280


class _Charts(HTMLParser):
    """Counts <figure data-chart=...> holding an <svg> in a DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.current: str | None = None
        self.with_svg: set[str] = set()
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and values.get("data-chart"):
            self.current = values["data-chart"]
        if tag == "svg" and self.current:
            self.with_svg.add(self.current)
        for key in ("src", "href"):
            if tag in ("script", "img", "link") and values.get(key):
                self.external.append(str(values[key]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.current = None


@pytest.fixture(scope="module")
def page(analytics_workspace: AnalyticsWorkspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with home(analytics_workspace.root):
        return report.write_report(str(tmp_path_factory.mktemp("report") / "report.html"))


def test_the_report_renders_every_chart_self_contained(page: Path, analytics_workspace: AnalyticsWorkspace) -> None:
    text = page.read_text(encoding="utf-8")
    charts = _Charts()
    charts.feed(text)
    assert charts.with_svg == CHARTS
    assert charts.external == []  # no script, image or stylesheet to fetch: one file
    lift = analytics_workspace.df("select * from marts.holdout_lift where track = 'all'").iloc[0]
    assert f"{lift['lift']:+.1%}" in text  # the headline is the mart's figure
    assert "Measured lift of the automation" in text


def test_the_cli_writes_the_default_file(analytics_workspace: AnalyticsWorkspace, tmp_path: Path) -> None:
    env_home = analytics_workspace.root
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "report"], capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "ONBOARDING_HOME": str(env_home)}, check=False,
    )
    assert done.returncode == 0, done.stderr
    target = env_home / "reports" / report.DEFAULT_FILE
    assert target.exists() and str(target) in done.stdout
    assert target.read_text(encoding="utf-8").count("<svg") >= len(CHARTS)


def test_headless_chromium_opens_the_report_and_finds_its_charts(page: Path, tmp_path: Path) -> None:
    browser = ensure_chromium()
    dom = dump_dom(browser, page, tmp_path / "profile")
    charts = _Charts()
    charts.feed(dom)
    assert charts.with_svg == CHARTS, dom[:500]
    # The SVG charts were parsed as SVG by the browser (paths drawn, not escaped text).
    assert len(re.findall(r"<path\b", dom)) > 50
    assert "Onboarding: activation by path" in dom


def _overlap(a: list[float], b: list[float]) -> float:
    """Area shared by two boxes [left, top, right, bottom]."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


@pytest.fixture(scope="module")
def measured(page: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return layout(ensure_chromium(), page, tmp_path_factory.mktemp("profile"), width=WIDTH)


def test_the_report_fits_a_1280_px_window(measured: dict) -> None:
    assert measured["innerWidth"] == WIDTH
    assert measured["scrollWidth"] <= WIDTH  # nothing scrolls sideways
    assert {t["mart"] for t in measured["tables"]} >= {"activation_by_path", "onboarding_roi", "holdout_lift"}
    for table in measured["tables"]:
        assert table["box"][0] >= 0 and table["box"][2] <= WIDTH, (table["mart"], table["box"])
    for chart in measured["charts"]:
        assert chart["box"][0] >= 0 and chart["box"][2] <= WIDTH, (chart["chart"], chart["box"])


def test_no_legend_covers_a_plot(measured: dict) -> None:
    charts = {c["chart"]: c for c in measured["charts"]}
    assert {name for name, c in charts.items() if c["legends"]} == WITH_LEGEND
    for name, chart in charts.items():
        assert chart["axes"], name  # the plot areas were found, so the check below means something
        for legend in chart["legends"]:
            for axes in chart["axes"]:
                assert _overlap(legend, axes) == 0, (name, legend, axes)


def test_rows_read_by_week_then_track_with_dates_as_dates(measured: dict) -> None:
    tables = {t["mart"]: t for t in measured["tables"]}
    by_path = tables["activation_by_path"]
    assert by_path["header"][:2] == ["signup week", "track"]
    rows = by_path["rows"]
    assert len(rows) > 6
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}( \(partial\))?", row[0]), row[0]
    keys = [(row[0][:10], TRACK_RANK[row[1]]) for row in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # The workspace starts on a Tuesday and its clock is a Tuesday: the first and the last weeks were not
    # observed in full, every week between them was.
    weeks = sorted({row[0] for row in rows})
    assert START.weekday() == 1 and CLOCKS[-1].weekday() == 1
    assert weeks[0] == f"{START.date() - timedelta(days=1)} (partial)"
    assert weeks[-1].endswith("(partial)") and not any(w.endswith("(partial)") for w in weeks[1:-1])
    # Each row reconciles on the page too: activated <= window closed <= accounts.
    header = by_path["header"]
    accounts, closed, activated = (header.index(h) for h in ("accounts", "window closed", "activated ≤ 14 d"))
    for row in rows:
        assert int(row[activated].replace(",", "")) <= int(row[closed].replace(",", "")) \
            <= int(row[accounts].replace(",", ""))
    for mart in ("onboarding_roi", "holdout_lift", "time_to_first_value"):
        assert [r[0] for r in tables[mart]["rows"]] == ["high_touch", "standard", "self_serve", "all"], mart


def test_roi_shows_dollars_only_for_a_significant_lift(measured: dict, analytics_workspace: AnalyticsWorkspace) -> None:
    roi = analytics_workspace.df("select track, is_lift_significant from marts.onboarding_roi").set_index("track")
    table = next(t for t in measured["tables"] if t["mart"] == "onboarding_roi")
    value = table["header"].index("activation value / yr (95% CI)")
    lift = table["header"].index("lift (95% CI)")
    for row in table["rows"]:
        assert re.fullmatch(r"[+-]\d+\.\d% \([+-]\d+\.\d% to [+-]\d+\.\d%\)", row[lift]), row
        if roi.loc[row[0], "is_lift_significant"]:
            assert "$" in row[value], row
        else:
            assert row[value] == "not significant" and "$" not in row[-1], row


def test_the_report_asset_writes_and_attaches_the_page(analytics_workspace: AnalyticsWorkspace) -> None:
    from dagster_project.definitions import defs
    from dagster_project.defs.reports.assets import REPORT_KEY, activation_report

    hourly = defs.resolve_job_def("onboarding_hourly")
    assert REPORT_KEY not in hourly.asset_layer.selected_asset_keys
    assert defs.resolve_job_def("onboarding_report").asset_layer.selected_asset_keys == {REPORT_KEY}
    assert defs.resolve_schedule_def("onboarding_report_schedule").cron_schedule == "30 6 * * *"

    with home(analytics_workspace.root):
        result = dg.materialize(
            [activation_report],
            resources={"warehouse": WarehouseResource(path=str(analytics_workspace.warehouse))},
        )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    path = Path(metadata["path"].value)
    assert path.exists() and path.parent == analytics_workspace.root / "reports"
    assert path.read_text(encoding="utf-8").count("<svg") >= len(CHARTS)
    assert "| all |" in metadata["lift_by_track"].value
    assert metadata["marts_missing"].value == []
