"""The activation-by-path report as a Dagster asset, on its own daily job (off the hourly path).

Rendering SVG charts costs seconds of matplotlib; the hourly cycle must not pay it, so the
asset is excluded from `onboarding_hourly` (see definitions.py) and runs in `onboarding_report`
(jobs.py), scheduled daily. The page's path and the headline figures are attached as metadata.
"""

import dagster as dg

from dagster_project.defs.reports.marts import MARTS
from dagster_project.lib import config
from dagster_project.lib.resources import WarehouseResource

REPORT_KEY = dg.AssetKey(["reports", "activation_report"])


@dg.asset(
    key=REPORT_KEY,
    group_name="reports",
    deps=[dg.AssetKey(["marts", name]) for name in MARTS],
    kinds={"html"},
    description="Self-contained HTML report: path distribution, activation, lift vs holdout, stalls, ROI.",
)
def activation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    # Imported here: pandas (~0.3 s) loads with the daily report, not with every hourly cycle's code location.
    from dagster_project.defs.reports.render import load_figures, render_html

    figures = load_figures(warehouse.resolved_path())
    page = render_html(figures)
    stamp = figures.as_of.strftime("%Y%m%dT%H%MZ") if figures.as_of else "unknown"
    target = config.reports_dir() / f"activation_report_{stamp}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    (config.reports_dir() / "activation_report.html").write_text(page, encoding="utf-8")
    lift = figures["holdout_lift"]
    rows = lift.to_dict("records") if not lift.empty else []
    markdown = "\n".join(
        ["| track | treated | holdout | lift | 95% CI |", "|---|---|---|---|---|"]
        + [
            f"| {r['track']} | {r['treated_rate']:.1%} | {r['holdout_rate']:.1%} | {r['lift']:+.1%} | "
            f"{r['lift_ci_low']:+.1%} .. {r['lift_ci_high']:+.1%} |"
            for r in rows
            if r["treated_rate"] == r["treated_rate"] and r["holdout_rate"] == r["holdout_rate"]  # not NaN
        ]
    )
    context.log.info(f"report written to {target}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "as_of": str(figures.as_of),
            "bytes": len(page.encode()),
            "lift_by_track": dg.MetadataValue.md(markdown),
            "marts_missing": dg.MetadataValue.json([m for m in MARTS if m not in figures.tables]),
        }
    )
