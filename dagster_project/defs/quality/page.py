"""A data-docs style HTML page of the latest validation: one section per check, failing rows counted.

GX's own Data Docs need a file-backed context and a site builder; the hourly job uses an ephemeral
context, so this page is rendered from the same outcomes instead. Customer-typed values never appear,
only counts, message ids and (for enum rules) the unexpected values.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

from dagster_project.defs.quality.checks import CheckOutcome, describe

REPORT_NAME = "data_quality.html"
_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}
th{background:#f6f8fa}.status{font-weight:600;color:#fff;padding:.1rem .4rem;border-radius:.3rem}
"""


def _badge(status: str) -> str:
    return f'<span class="status" style="background:{_COLOURS.get(status, "#57606a")}">{escape(status)}</span>'


def render(checks: list[CheckOutcome], as_of: datetime, batch_rows: int, gate: list[tuple], timings: dict[str, float]) -> str:
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail")}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Data quality</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Data quality: latest validation</h1><p>Cycle clock <b>{escape(as_of.isoformat())}</b>; "
        f"{batch_rows} newly arrived messages; {counts['pass']} passed, {counts['warn']} warnings, "
        f"{counts['fail']} blocking failures; {len({g[0] for g in gate})} account(s) gated "
        f"(validation took {timings.get('total_seconds', 0):.2f} s).</p>",
        "<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>new rows</th><th>summary</th></tr>",
    ]
    for c in checks:
        note = " (carried over)" if c.carried else ""
        parts.append(
            f"<tr><td><a href='#{escape(c.name)}'>{escape(c.name)}</a></td><td>{_badge(c.status)}{note}</td>"
            f"<td>{c.rows}</td><td>{escape(c.summary)}</td></tr>"
        )
    parts.append("</table>")
    for c in checks:
        if not c.expectations and not c.findings:
            continue
        parts.append(f"<h3 id='{escape(c.name)}'>{escape(c.name)} {_badge(c.status)}</h3><table>")
        if c.expectations:
            parts.append("<tr><th>expectation</th><th>column</th><th>severity</th><th>result</th>"
                         "<th>unexpected</th><th>why</th><th>sample messageIds</th></tr>")
            for e in c.expectations:
                result = "FAILED" if not e.success else (
                    "passed (under the minimum count)" if e.under_min_count else "passed")
                if e.unattributed:
                    result += f"; {e.unattributed} row(s) without an account (gate nobody)"
                values = f"<br>values: {escape(', '.join(e.unexpected_values))}" if e.unexpected_values and not e.success else ""
                parts.append(
                    f"<tr><td>{escape(e.expectation_type)}</td><td>{escape(e.column)}</td><td>{escape(e.severity)}</td>"
                    f"<td>{result}</td><td>{e.unexpected_count} / {e.element_count} ({e.unexpected_percent:.1f}%){values}</td>"
                    f"<td>{escape(e.why)}</td><td>{escape(', '.join(e.sample_message_ids[:5]) if not e.success else '')}</td></tr>"
                )
        if c.findings:
            parts.append("<tr><th>finding</th><th>event</th><th>detail</th><th>count</th><th>sample messageIds</th></tr>")
            for f in c.findings:
                parts.append(
                    f"<tr><td>{escape(f.kind)}</td><td>{escape(f.key)}</td><td>{escape(f.message)}</td>"
                    f"<td>{f.count}</td><td>{escape(', '.join(f.samples[:5]))}</td></tr>"
                )
        parts.append("</table>")
    parts.append("<h2>Send gate</h2>")
    if gate:
        parts.append("<table><tr><th>account</th><th>check</th><th>reason</th><th>blocked since</th></tr>")
        for account, check, reason, since in gate[:500]:
            parts.append(f"<tr><td>{escape(str(account))}</td><td>{escape(check)}</td><td>{escape(reason)}</td>"
                         f"<td>{escape(str(since))}</td></tr>")
        parts.append("</table>")
        if len(gate) > 500:
            parts.append(f"<p>… and {len(gate) - 500} more rows in ops.send_gate.</p>")
    else:
        parts.append("<p>No account is gated.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(directory: Path, html: str) -> Path:
    """Write the latest page atomically (a reader never sees half a report)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / REPORT_NAME
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target


__all__ = ["REPORT_NAME", "describe", "render", "write_report"]
