"""`onboarding report`: the activation-by-path report as one self-contained HTML page.

The figures are read from the analytics marts (dbt_project/models/marts/analytics), never
recomputed here, so the page, the notebooks and a SQL client agree. Charts are matplotlib SVG
inlined in the page (no network, no JavaScript): the file can be mailed or attached to a run.
Layout: `load_figures` (I/O, one read-only connection), `render_html` (pure), `write_report`.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from dagster_project import config, warehouse

DEFAULT_FILE = "activation_report.html"
TRACK_ORDER = ("high_touch", "standard", "self_serve")
TRACK_COLOURS = {"high_touch": "#7b3294", "standard": "#008837", "self_serve": "#2c7bb6", "all": "#444444"}

# The marts the report reads, in the order of its sections.
MARTS = (
    "activation_by_path",
    "path_distribution",
    "holdout_lift",
    "stall_by_step",
    "time_to_first_value",
    "recovery_outcomes",
    "win_back_outcomes",
    "csm_workload_daily",
    "onboarding_roi",
)


@dataclass
class Figures:
    """The analytics marts as DataFrames, plus the clock they were built at."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    as_of: datetime | None = None

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


def load_figures(path: Path | None = None) -> Figures:
    """Read every analytics mart (missing ones come back empty: the page says so)."""
    figures = Figures()
    with warehouse.connect(path, read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        present = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        for name in MARTS:
            if name in present:
                figures.tables[name] = con.execute(f"select * from marts.{name}").df()
    for frame in figures.tables.values():
        if "as_of" in frame.columns and len(frame):
            figures.as_of = pd.Timestamp(frame["as_of"].max()).to_pydatetime()
            break
    return figures


# ---- charts (pure: DataFrame -> SVG text) ---------------------------------------------------------


def _svg(fig) -> str:  # noqa: ANN001 - a matplotlib Figure
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline SVG


def _figure(width: float = 7.0, height: float = 3.2, columns: int = 1):  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "onboarding"  # stable ids: the same data gives the same page
    return plt.subplots(1, columns, figsize=(width, height))


def _tracks(frame: pd.DataFrame) -> list[str]:
    present = set(frame["track"]) if "track" in frame else set()
    return [t for t in (*TRACK_ORDER, "all") if t in present]


def chart_path_distribution(frame: pd.DataFrame) -> str:
    """Stacked share of each track per signup week."""
    fig, ax = _figure()
    pivot = frame.pivot_table(index="signup_week", columns="track", values="share", aggfunc="sum").fillna(0)
    bottom = None
    labels = [str(w)[:10] for w in pivot.index]
    for track in _tracks(frame):
        values = pivot[track].to_numpy()
        ax.bar(labels, values, bottom=bottom, label=track, color=TRACK_COLOURS[track])
        bottom = values if bottom is None else bottom + values
    ax.set_ylabel("share of signups")
    ax.set_xlabel("signup week")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Path distribution by signup week")
    return _svg(fig)


def chart_activation(frame: pd.DataFrame) -> str:
    """14-day activation rate per track and signup week (weeks with a closed window)."""
    fig, ax = _figure()
    data = frame.dropna(subset=["activation_rate"])
    for track in _tracks(data):
        rows = data[data["track"] == track].sort_values("signup_week")
        ax.plot([str(w)[:10] for w in rows["signup_week"]], rows["activation_rate"], marker="o",
                label=track, color=TRACK_COLOURS[track])
    ax.set_ylim(0, 1)
    ax.set_ylabel("activated within 14 days")
    ax.set_xlabel("signup week")
    ax.legend(fontsize=8)
    ax.set_title("Activation rate per track")
    return _svg(fig)


def chart_lift(frame: pd.DataFrame) -> str:
    """Treated vs holdout 14-day activation with 95% intervals, and the lift per track."""
    fig, (left, right) = _figure(8.5, 3.2, columns=2)
    tracks = _tracks(frame)
    rows = frame.set_index("track").loc[tracks]
    xs = range(len(tracks))
    for offset, arm, colour in ((-0.15, "treated", "#1a9641"), (0.15, "holdout", "#d7191c")):
        rate = rows[f"{arm}_rate"].to_numpy(dtype=float)
        low = rate - rows[f"{arm}_ci_low"].to_numpy(dtype=float)
        high = rows[f"{arm}_ci_high"].to_numpy(dtype=float) - rate
        left.errorbar([x + offset for x in xs], rate, yerr=[low, high], fmt="o", capsize=4, label=arm, color=colour)
    left.set_xticks(list(xs), tracks)
    left.set_ylim(0, 1)
    left.set_ylabel("activated within 14 days")
    left.legend(fontsize=8)
    left.set_title("Treated vs holdout (95% Wilson)")
    lift = rows["lift"].to_numpy(dtype=float)
    right.errorbar(list(xs), lift, yerr=[lift - rows["lift_ci_low"].to_numpy(dtype=float),
                                         rows["lift_ci_high"].to_numpy(dtype=float) - lift],
                   fmt="s", capsize=4, color="#444444")
    right.axhline(0, color="#999999", linewidth=1)
    right.set_xticks(list(xs), tracks)
    right.set_ylabel("lift (treated - holdout)")
    right.set_title("Lift with 95% Newcombe interval")
    fig.tight_layout()
    return _svg(fig)


def chart_stalls(frame: pd.DataFrame) -> str:
    """Stall rate per step, one bar group per track."""
    data = frame.dropna(subset=["goal_event"]).sort_values(["track", "step_order"])
    fig, ax = _figure(8.0, 3.4)
    labels = [f"{t}\n{s}" for t, s in zip(data["track"], data["step_key"], strict=True)]
    ax.bar(range(len(data)), data["stall_rate"].fillna(0), color=[TRACK_COLOURS[t] for t in data["track"]])
    ax.set_xticks(range(len(data)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("stalled / reached")
    ax.set_ylim(0, 1)
    ax.set_title("Where accounts get stuck")
    return _svg(fig)


def chart_time_to_value(frame: pd.DataFrame) -> str:
    """Share activated within 1 h, 24 h, 7 d, 14 d per track."""
    fig, ax = _figure()
    windows = ("1h", "24h", "7d", "14d")
    for track in _tracks(frame):
        row = frame[frame["track"] == track].iloc[0]
        ax.plot(windows, [row[f"activated_within_{w}_rate"] for w in windows], marker="o", label=track,
                color=TRACK_COLOURS[track])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share activated")
    ax.set_xlabel("time since signup")
    ax.legend(fontsize=8)
    ax.set_title("Time to first value")
    return _svg(fig)


def chart_workload(frame: pd.DataFrame) -> str:
    """Situations per CSM per day."""
    fig, ax = _figure()
    pivot = frame.pivot_table(index="day", columns="csm_owner", values="situations", aggfunc="sum").fillna(0)
    for csm in pivot.columns:
        ax.plot([str(d)[:10] for d in pivot.index], pivot[csm], label=csm, linewidth=1.2)
    ax.set_ylabel("situations per day")
    ax.tick_params(axis="x", labelrotation=60, labelsize=6)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("CSM workload")
    return _svg(fig)


# ---- page (pure) --------------------------------------------------------------------------------


def _table(frame: pd.DataFrame, columns: list[str], percent: tuple[str, ...] = (), money: tuple[str, ...] = ()) -> str:
    if frame.empty:
        return "<p class='empty'>No rows yet.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            value = row.get(c)
            if value is None or (isinstance(value, float) and pd.isna(value)):
                text = ""
            elif c in percent:
                text = f"{float(value):.1%}"
            elif c in money:
                text = f"${float(value):,.0f}"
            elif isinstance(value, float):
                text = f"{value:,.1f}"
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chart(name: str, title: str, frame: pd.DataFrame, draw) -> str:  # noqa: ANN001
    if frame.empty:
        return f"<p class='empty'>{html.escape(title)}: no data yet.</p>"
    return f"<figure class='chart' data-chart='{name}'>{draw(frame)}<figcaption>{html.escape(title)}</figcaption></figure>"


CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}
th{background:#f4f4f4}figure.chart{margin:1rem 0}figure.chart svg{max-width:100%;height:auto}
figcaption{font-size:.8rem;color:#666}.empty{color:#999}.note{font-size:.85rem;color:#555}
"""


def render_html(figures: Figures) -> str:
    """The whole page. Pure: the same figures give the same bytes."""
    as_of = figures.as_of.strftime("%Y-%m-%d %H:%M UTC") if figures.as_of else "unknown"
    lift = figures["holdout_lift"]
    roi = figures["onboarding_roi"]
    headline = ""
    if not lift.empty and (lift["track"] == "all").any():
        row = lift[lift["track"] == "all"].iloc[0]
        if pd.notna(row["lift"]):
            headline = (
                f"<p class='headline'>Measured lift of the automation: <b>{row['lift']:+.1%}</b> 14-day activation "
                f"(95% CI {row['lift_ci_low']:+.1%} to {row['lift_ci_high']:+.1%}; treated {row['treated_rate']:.1%} "
                f"of {int(row['treated_accounts'])}, holdout {row['holdout_rate']:.1%} of {int(row['holdout_accounts'])})."
                "</p>"
            )
    sections = [
        "<h2>Path distribution</h2>",
        _chart("path_distribution", "Share of each week's signups per track", figures["path_distribution"],
               chart_path_distribution),
        "<h2>Activation by path</h2>",
        _chart("activation_by_path", "14-day activation rate per track and signup week", figures["activation_by_path"],
               chart_activation),
        _table(figures["activation_by_path"], ["track", "signup_week", "accounts", "eligible_accounts",
                                               "activated_within_14d", "activation_rate", "median_hours_to_activation",
                                               "stalled", "stall_rate", "recovered"],
               percent=("activation_rate", "stall_rate")),
        "<h2>Lift against the holdout</h2>",
        headline,
        _chart("holdout_lift", "Treated vs holdout, and the lift, per track", lift, chart_lift),
        _table(lift, ["track", "treated_accounts", "treated_rate", "holdout_accounts", "holdout_rate", "lift",
                      "lift_ci_low", "lift_ci_high", "is_significant"],
               percent=("treated_rate", "holdout_rate", "lift", "lift_ci_low", "lift_ci_high")),
        "<h2>Stalls per track and step</h2>",
        _chart("stall_by_step", "Stall rate per step", figures["stall_by_step"], chart_stalls),
        _table(figures["stall_by_step"], ["track", "step_order", "step_key", "reached", "stalled", "stall_rate",
                                          "stuck_now", "unstuck"], percent=("stall_rate",)),
        "<h2>Time to first value</h2>",
        _chart("time_to_first_value", "Share activated within each window", figures["time_to_first_value"],
               chart_time_to_value),
        _table(figures["time_to_first_value"], ["track", "accounts", "activated", "p25_hours_to_activation",
                                                "median_hours_to_activation", "p75_hours_to_activation"]),
        "<h2>Recovery and win-back</h2>",
        _table(figures["recovery_outcomes"], ["track", "attempt", "arm", "reached", "decided", "recovered",
                                              "recovery_rate", "sent"], percent=("recovery_rate",)),
        _table(figures["win_back_outcomes"], ["track", "arm", "win_back_accounts", "activated_after",
                                              "suppressed_after", "still_open", "win_back_rate"],
               percent=("win_back_rate",)),
        "<h2>CSM workload</h2>",
        _chart("csm_workload_daily", "Situations per CSM per day", figures["csm_workload_daily"], chart_workload),
        "<h2>ROI</h2>",
        "<p class='note'>(new customers/yr x measured lift x ARPU) + (CSM hours saved/yr x loaded hourly cost) - "
        "tooling; assumptions are the roi_* vars in dbt_project/dbt_project.yml.</p>",
        _table(roi, ["track", "new_customers_per_year", "activation_lift", "arpu", "activation_value", "csm_value",
                     "tooling_cost_per_year", "net_value", "net_value_ci_low", "net_value_ci_high"],
               percent=("activation_lift",),
               money=("arpu", "activation_value", "csm_value", "tooling_cost_per_year", "net_value",
                      "net_value_ci_low", "net_value_ci_high")),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Onboarding: activation by path ({html.escape(as_of)})</title><style>{CSS}</style></head><body>"
        f"<h1>Onboarding: activation by path</h1><p class='note'>Warehouse clock (as_of): {html.escape(as_of)}. "
        "Activation = the dbt var activation_events within 14 days of signup; rates count accounts whose window "
        "has closed.</p>" + "".join(sections) + "</body></html>"
    )


def default_path() -> Path:
    return config.reports_dir() / DEFAULT_FILE


def write_report(out: str | None = None, *, warehouse_path: Path | None = None) -> Path:
    """Render the report from the warehouse (default ONBOARDING_WAREHOUSE/HOME) and write it; returns the file."""
    target = Path(out).expanduser().resolve() if out else default_path()
    page = render_html(load_figures(warehouse_path))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
