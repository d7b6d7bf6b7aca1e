"""`onboarding report`: the activation-by-path report as one self-contained HTML page.

The figures are read from the analytics marts (dbt_project/models/marts/analytics), never
recomputed here, so the page, the notebooks and a SQL client agree. Charts are matplotlib SVG
inlined in the page (no network, no JavaScript): the file can be mailed or attached to a run.
Layout: `load_figures` (I/O, one read-only connection), `render_html` (pure), `write_report`.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from dagster_project.defs.reports.marts import MARTS
from dagster_project.lib import config, warehouse

DEFAULT_FILE = "activation_report.html"
TRACK_ORDER = ("high_touch", "standard", "self_serve")
TRACK_COLOURS = {"high_touch": "#7b3294", "standard": "#008837", "self_serve": "#2c7bb6", "all": "#444444"}


@dataclass
class Figures:
    """The analytics marts as DataFrames, plus the clock they were built at."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    as_of: datetime | None = None

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


def load_figures(path: Path | None = None) -> Figures:
    """Read every analytics mart in reading order (missing ones come back empty: the page says so)."""
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
                figures.tables[name] = sorted_mart(name, con.execute(f"select * from marts.{name}").df())
    for frame in figures.tables.values():
        if "as_of" in frame.columns and len(frame):
            figures.as_of = pd.Timestamp(frame["as_of"].max()).to_pydatetime()
            break
    return figures


# ---- ordering and formatting (pure) -----------------------------------------------------------------

# How each mart's rows are read: by week, then track in TRACK_ORDER ('all' last), then the rest.
SORT_KEYS = {
    "activation_by_path": ["signup_week", "track"],
    "path_distribution": ["signup_week", "track"],
    "holdout_lift": ["track"],
    "stall_by_step": ["track", "step_order"],
    "time_to_first_value": ["track"],
    "recovery_outcomes": ["track", "attempt", "arm"],
    "win_back_outcomes": ["track", "arm"],
    "csm_workload_daily": ["day", "csm_owner"],
    "onboarding_roi": ["track"],
}
_TRACK_RANK = {track: rank for rank, track in enumerate((*TRACK_ORDER, "all"))}
_ARM_RANK = {"treated": 0, "holdout": 1}


def sorted_mart(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The mart's rows in reading order (SORT_KEYS): weeks ascending, tracks high_touch, standard, self_serve, all."""
    keys = [k for k in SORT_KEYS.get(name, []) if k in frame.columns]
    if frame.empty or not keys:
        return frame

    def key(column: pd.Series) -> pd.Series:
        if column.name == "track":
            return column.map(lambda t: _TRACK_RANK.get(t, len(_TRACK_RANK)))
        if column.name == "arm":
            return column.map(lambda a: _ARM_RANK.get(a, len(_ARM_RANK)))
        return column

    return frame.sort_values(keys, key=key, kind="stable").reset_index(drop=True)


def day(value: object) -> str:
    """A date as a date (2026-11-23), whatever DuckDB and pandas made of it."""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def week_label(row: pd.Series) -> str:
    """The signup week's Monday, marked when the warehouse did not observe the whole week."""
    return day(row["signup_week"]) + (" (partial)" if bool(row.get("is_partial_week", False)) else "")


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _signed(value: float) -> str:
    return f"{value:+.1%}"


def _money(value: float) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1e6:
        return f"{sign}${value / 1e6:,.2f}M"
    if value >= 1e4:
        return f"{sign}${value / 1e3:,.1f}K"
    return f"{sign}${value:,.0f}"


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


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


def _legend_outside(ax, handles: list | None = None) -> None:  # noqa: ANN001 - a matplotlib Axes
    """The legend right of the plot area, never over a bar or a point (bbox_inches='tight' keeps it)."""
    extra = {"handles": handles} if handles else {}
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0.0, **extra)


def _tracks(frame: pd.DataFrame) -> list[str]:
    present = set(frame["track"]) if "track" in frame else set()
    return [t for t in (*TRACK_ORDER, "all") if t in present]


def _week_axis(ax, frame: pd.DataFrame) -> list:  # noqa: ANN001
    """One x position per signup week in date order (a week missing on one track keeps its place)."""
    weeks = sorted(frame.drop_duplicates("signup_week").itertuples(index=False), key=lambda r: r.signup_week)
    ax.set_xticks(range(len(weeks)), [week_label(pd.Series(r._asdict())) for r in weeks], rotation=30, ha="right",
                  fontsize=8)
    ax.set_xlabel("signup week (Monday)")
    return [w.signup_week for w in weeks]


def chart_path_distribution(frame: pd.DataFrame) -> str:
    """Stacked share of each track per signup week; partial weeks hatched."""
    fig, ax = _figure()
    weeks = _week_axis(ax, frame)
    partial = [bool(frame.loc[frame["signup_week"] == w, "is_partial_week"].any()) if "is_partial_week" in frame
               else False for w in weeks]
    pivot = frame.pivot_table(index="signup_week", columns="track", values="share", aggfunc="sum").reindex(weeks)
    bottom = [0.0] * len(weeks)
    for track in _tracks(frame):
        values = pivot[track].fillna(0).to_list()
        bars = ax.bar(range(len(weeks)), values, bottom=bottom, label=track, color=TRACK_COLOURS[track])
        for bar, is_partial in zip(bars, partial, strict=True):
            if is_partial:
                bar.set_hatch("//")
                bar.set_alpha(0.6)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("share of signups")
    ax.set_ylim(0, 1)
    from matplotlib.patches import Patch

    # Plain swatches: the hatch of a partial week is not part of a track's colour.
    _legend_outside(ax, [Patch(color=TRACK_COLOURS[t], label=t) for t in _tracks(frame)])
    ax.set_title("Path distribution by signup week (hatched: partial week)")
    return _svg(fig)


def chart_activation(frame: pd.DataFrame) -> str:
    """14-day activation rate per track and signup week; weeks whose windows have not all closed are hollow."""
    fig, ax = _figure()
    weeks = _week_axis(ax, frame)
    position = {w: i for i, w in enumerate(weeks)}
    data = frame.dropna(subset=["activation_rate"])
    for track in _tracks(data):
        rows = data[data["track"] == track].sort_values("signup_week")
        xs = [position[w] for w in rows["signup_week"]]
        ax.plot(xs, rows["activation_rate"], color=TRACK_COLOURS[track], label=track, linewidth=1.2)
        final = (rows["window_status"] == "closed").to_list() if "window_status" in rows else [True] * len(rows)
        ax.scatter(xs, rows["activation_rate"], color=[TRACK_COLOURS[track] if f else "white" for f in final],
                   edgecolors=TRACK_COLOURS[track], zorder=3)
    ax.set_xlim(-0.5, len(weeks) - 0.5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("activated within 14 days")
    _legend_outside(ax)
    ax.set_title("Activation rate per track (hollow: some windows still open)")
    return _svg(fig)


def chart_lift(frame: pd.DataFrame) -> str:
    """Treated vs holdout 14-day activation with 95% intervals, and the lift per track."""
    fig, (left, right) = _figure(9.0, 3.2, columns=2)
    tracks = _tracks(frame)
    rows = frame.set_index("track").loc[tracks]
    xs = range(len(tracks))
    for offset, arm, colour in ((-0.15, "treated", "#1a9641"), (0.15, "holdout", "#d7191c")):
        rate = rows[f"{arm}_rate"].to_numpy(dtype=float)
        low = rate - rows[f"{arm}_ci_low"].to_numpy(dtype=float)
        high = rows[f"{arm}_ci_high"].to_numpy(dtype=float) - rate
        left.errorbar([x + offset for x in xs], rate, yerr=[low, high], fmt="o", capsize=4, label=arm, color=colour)
    left.set_xticks(list(xs), tracks, fontsize=8)
    left.set_ylim(0, 1)
    left.set_ylabel("activated within 14 days")
    left.set_title("Treated vs holdout (95% Wilson)")
    lift = rows["lift"].to_numpy(dtype=float)
    right.errorbar(list(xs), lift, yerr=[lift - rows["lift_ci_low"].to_numpy(dtype=float),
                                         rows["lift_ci_high"].to_numpy(dtype=float) - lift],
                   fmt="s", capsize=4, color="#444444")
    right.axhline(0, color="#999999", linewidth=1)
    right.set_xticks(list(xs), tracks, fontsize=8)
    right.set_ylabel("lift (treated - holdout)")
    right.set_title("Lift with 95% Newcombe interval")
    fig.tight_layout()
    # Below both panels (and their tick labels), never over an interval.
    fig.legend(*left.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8,
               frameon=False)
    return _svg(fig)


def chart_stalls(frame: pd.DataFrame) -> str:
    """Stall rate per step, one bar group per track."""
    data = sorted_mart("stall_by_step", frame.dropna(subset=["goal_event"]))
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
    ax.set_xlabel("time since signup (windows closed at the clock)")
    _legend_outside(ax)
    ax.set_title("Time to first value")
    return _svg(fig)


def chart_workload(frame: pd.DataFrame) -> str:
    """Situations per CSM per day."""
    fig, ax = _figure()
    pivot = frame.pivot_table(index="day", columns="csm_owner", values="situations", aggfunc="sum").fillna(0)
    pivot = pivot.sort_index()
    xs = range(len(pivot.index))
    for csm in pivot.columns:
        ax.plot(xs, pivot[csm], label=csm, linewidth=1.2)
    step = max(1, len(pivot.index) // 10)
    ax.set_xticks(list(xs)[::step], [day(d) for d in pivot.index][::step], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("situations per day")
    _legend_outside(ax)
    ax.set_title("CSM workload")
    return _svg(fig)


# ---- page (pure) --------------------------------------------------------------------------------


def _chart(name: str, title: str, frame: pd.DataFrame, draw) -> str:  # noqa: ANN001
    if frame.empty:
        return f"<p class='empty'>{html.escape(title)}: no data yet.</p>"
    return f"<figure class='chart' data-chart='{name}'>{draw(frame)}<figcaption>{html.escape(title)}</figcaption></figure>"


# A column of a table: (header, cell) where cell turns a row into the text shown (None = empty).
Cell = Callable[[pd.Series], "str | None"]


def _col(name: str, fmt: Callable[[object], str] = str) -> Cell:
    return lambda row: None if _missing(row.get(name)) else fmt(row[name])


def _int(value: object) -> str:
    return f"{int(value):,}"


def _float1(value: object) -> str:
    return f"{float(value):,.1f}"


def _table(name: str, frame: pd.DataFrame, columns: list[tuple[str, Cell]]) -> str:
    if frame.empty:
        return "<p class='empty'>No rows yet.</p>"
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in columns)
    body = []
    for _, row in sorted_mart(name, frame).iterrows():
        cells = "".join(f"<td>{html.escape(text or '')}</td>" for text in (cell(row) for _, cell in columns))
        body.append(f"<tr>{cells}</tr>")
    return (f"<table data-mart='{name}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _activation_rate(row: pd.Series) -> str | None:
    if _missing(row.get("activation_rate")):
        return "window open"
    rate = _percent(float(row["activation_rate"]))
    return rate if row.get("window_status", "closed") == "closed" else f"{rate} (so far)"


def _lift_interval(row: pd.Series) -> str | None:
    if _missing(row.get("activation_lift")):
        return None
    return (f"{_signed(float(row['activation_lift']))} ({_signed(float(row['activation_lift_ci_low']))} to "
            f"{_signed(float(row['activation_lift_ci_high']))})")


def _significant_money(name: str, low: str | None = None, high: str | None = None) -> Cell:
    """Dollars only where the mart filled them (the lift's interval excludes zero); else 'not significant'."""

    def cell(row: pd.Series) -> str:
        if _missing(row.get(name)):
            return "not measured" if row.get("lift_status") == "not measured" else "not significant"
        text = _money(float(row[name]))
        if low and high and not _missing(row.get(low)):
            text += f" ({_money(float(row[low]))} to {_money(float(row[high]))})"
        return text

    return cell


ACTIVATION_COLUMNS: list[tuple[str, Cell]] = [
    ("signup week", week_label),
    ("track", _col("track")),
    ("accounts", _col("accounts", _int)),
    ("14-day window", _col("window_status")),
    ("window closed", _col("eligible_accounts", _int)),
    ("activated ≤ 14 d", _col("activated_within_14d", _int)),
    ("activation rate", _activation_rate),
    ("median h to activation", _col("median_hours_to_activation", _float1)),
    ("stalled", _col("stalled", _int)),
    ("stall rate", _col("stall_rate", _percent)),
    ("recovered", _col("recovered", _int)),
]

ROI_COLUMNS: list[tuple[str, Cell]] = [
    ("track", _col("track")),
    ("signups", _col("accounts", _int)),
    ("new customers / yr", _col("new_customers_per_year", _int)),
    ("ARPU / signup", _col("arpu", _money)),
    ("lift (95% CI)", _lift_interval),
    ("activation value / yr (95% CI)", _significant_money("activation_value", "activation_value_ci_low",
                                                          "activation_value_ci_high")),
    ("CSM time / yr", _col("csm_value", _money)),
    ("tooling / yr", _col("tooling_cost_per_year", _money)),
    ("net / yr", _significant_money("net_value")),
]

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:74rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.78rem;margin:.5rem 0;max-width:100%}
td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:right}td{white-space:nowrap}
th{background:#f4f4f4;vertical-align:bottom}td:first-child,th:first-child{text-align:left;white-space:nowrap}
figure.chart{margin:1rem 0}figure.chart svg{max-width:100%;height:auto}
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
            verdict = "significant" if bool(row["is_significant"]) else "not significant: the interval contains zero"
            headline = (
                f"<p class='headline'>Measured lift of the automation: <b>{row['lift']:+.1%}</b> 14-day activation "
                f"(95% CI {row['lift_ci_low']:+.1%} to {row['lift_ci_high']:+.1%}, {verdict}; treated "
                f"{row['treated_rate']:.1%} of {int(row['treated_accounts'])}, holdout {row['holdout_rate']:.1%} of "
                f"{int(row['holdout_accounts'])})."
                "</p>"
            )
    sections = [
        "<h2>Path distribution</h2>",
        _chart("path_distribution", "Share of each week's signups per track", figures["path_distribution"],
               chart_path_distribution),
        "<h2>Activation by path</h2>",
        "<p class='note'>One row per signup week and track. The 14-day figures count only accounts whose 14-day "
        "window has closed (<i>window closed</i>): <i>activated ≤ 14 d</i> is a part of them and the rate is "
        "their quotient. A week marked <i>partial</i> was not observed in full; <i>so far</i> = some windows are "
        "still open.</p>",
        _chart("activation_by_path", "14-day activation rate per track and signup week", figures["activation_by_path"],
               chart_activation),
        _table("activation_by_path", figures["activation_by_path"], ACTIVATION_COLUMNS),
        "<h2>Lift against the holdout</h2>",
        headline,
        _chart("holdout_lift", "Treated vs holdout, and the lift, per track", lift, chart_lift),
        _table("holdout_lift", lift, [
            ("track", _col("track")), ("treated", _col("treated_accounts", _int)),
            ("treated rate", _col("treated_rate", _percent)), ("holdout", _col("holdout_accounts", _int)),
            ("holdout rate", _col("holdout_rate", _percent)), ("lift", _col("lift", _signed)),
            ("95% CI low", _col("lift_ci_low", _signed)), ("95% CI high", _col("lift_ci_high", _signed)),
            ("significant", _col("is_significant", lambda v: "yes" if v else "no"))]),
        "<h2>Stalls per track and step</h2>",
        _chart("stall_by_step", "Stall rate per step", figures["stall_by_step"], chart_stalls),
        _table("stall_by_step", figures["stall_by_step"], [
            ("track", _col("track")), ("step", _col("step_order", _int)), ("step key", _col("step_key")),
            ("reached", _col("reached", _int)), ("stalled", _col("stalled", _int)),
            ("stall rate", _col("stall_rate", _percent)), ("stuck now", _col("stuck_now", _int)),
            ("unstuck", _col("unstuck", _int))]),
        "<h2>Time to first value</h2>",
        _chart("time_to_first_value", "Share activated within each window", figures["time_to_first_value"],
               chart_time_to_value),
        _table("time_to_first_value", figures["time_to_first_value"], [
            ("track", _col("track")), ("accounts", _col("accounts", _int)), ("activated", _col("activated", _int)),
            ("p25 h", _col("p25_hours_to_activation", _float1)),
            ("median h", _col("median_hours_to_activation", _float1)),
            ("p75 h", _col("p75_hours_to_activation", _float1)),
            ("window closed (14 d)", _col("eligible_14d_accounts", _int)),
            ("activated ≤ 14 d", _col("activated_within_14d", _int)),
            ("14-day rate", _col("activated_within_14d_rate", _percent))]),
        "<h2>Recovery and win-back</h2>",
        _table("recovery_outcomes", figures["recovery_outcomes"], [
            ("track", _col("track")), ("attempt", _col("attempt", _int)), ("arm", _col("arm")),
            ("reached", _col("reached", _int)), ("window closed", _col("decided", _int)),
            ("recovered", _col("recovered", _int)), ("recovery rate", _col("recovery_rate", _percent)),
            ("sent", _col("sent", _int))]),
        _table("win_back_outcomes", figures["win_back_outcomes"], [
            ("track", _col("track")), ("arm", _col("arm")), ("win-back", _col("win_back_accounts", _int)),
            ("activated after", _col("activated_after", _int)), ("suppressed", _col("suppressed_after", _int)),
            ("still open", _col("still_open", _int)), ("win-back rate", _col("win_back_rate", _percent))]),
        "<h2>CSM workload</h2>",
        _chart("csm_workload_daily", "Situations per CSM per day", figures["csm_workload_daily"], chart_workload),
        "<h2>ROI</h2>",
        "<p class='note'>(new customers/yr x measured lift x ARPU) + (CSM hours saved/yr x loaded hourly cost) - "
        "tooling. New customers and ARPU come from one population per track, its signups (free ones included): "
        "ARPU is their retained ARR per signup. The lift becomes dollars only where its 95% interval excludes "
        "zero; otherwise <i>not significant</i>, with the interval. Assumptions are the roi_* vars in "
        "dbt_project/dbt_project.yml.</p>",
        _table("onboarding_roi", roi, ROI_COLUMNS),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
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
