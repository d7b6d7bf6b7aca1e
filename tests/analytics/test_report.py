"""`onboarding report`: the HTML renders from the marts, a headless chromium opens it and finds its
charts, and the Dagster asset writes it and attaches its path (off the hourly job)."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from dagster_project import report
from dagster_project.resources import WarehouseResource
from tests.analytics.browser import dump_dom, ensure_chromium
from tests.analytics.conftest import AnalyticsWorkspace
from tests.trunk.conftest import home

pytestmark = pytest.mark.slow  # the session workspace: generation and two full cycles
CHARTS = {"path_distribution", "activation_by_path", "holdout_lift", "stall_by_step", "time_to_first_value",
          "csm_workload_daily"}


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


def test_the_report_asset_writes_and_attaches_the_page(analytics_workspace: AnalyticsWorkspace) -> None:
    from dagster_project.assets.report import REPORT_KEY, activation_report
    from dagster_project.definitions import defs

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
