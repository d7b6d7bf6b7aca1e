"""Debian's chromium, headless: installed on demand (CI is a fresh machine), never skipped."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--hide-scrollbars")

# Measures the laid-out page in the browser and writes the figures into the DOM (<pre id="layout">), which
# --dump-dom returns: the viewport, the page's scroll width, every table's box and body text, and per chart
# the box of the SVG, of each plot area (matplotlib's axes background patch) and of each legend.
_MEASURE = """
<script>
(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const out = {
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    tables: [...document.querySelectorAll('table')].map((t) => ({
      mart: t.dataset.mart || null, box: box(t),
      header: [...t.tHead.rows[0].cells].map((c) => c.textContent),
      rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent)),
    })),
    charts: [...document.querySelectorAll('figure.chart')].map((f) => {
      const svg = f.querySelector('svg');
      return {
        chart: f.dataset.chart, box: box(svg),
        axes: [...svg.querySelectorAll('g[id^="axes_"]')]
          .map((a) => a.querySelector('g[id^="patch_"]')).filter((p) => p).map(box),
        legends: [...svg.querySelectorAll('g[id^="legend_"]')].map(box),
      };
    }),
  };
  const pre = document.createElement('pre');
  pre.id = 'layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> str:
    """The browser's path; installs Debian's chromium with apt-get when missing, else fails loudly."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("chromium is not installed and cannot be installed here (needs root and apt-get): "
                           "run `apt-get install -y chromium` before `make test`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"installing chromium failed ({' '.join(step)}): {done.stderr.strip()[-500:]}")
    found = find_chromium()
    if not found:
        raise RuntimeError("apt-get installed chromium but no chromium binary is on PATH")
    return found


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def dump_dom(browser: str, page: Path, profile: Path, width: int = 1280) -> str:
    """The DOM after the page loaded, in a window `width` CSS pixels wide."""
    done = _run(browser, profile, f"--window-size={width},900", "--dump-dom", page.as_uri())
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


def layout(browser: str, page: Path, profile: Path, width: int = 1280) -> dict:
    """How chromium laid the page out in a `width`-pixel window (see _MEASURE), from a measuring copy of it."""
    text = page.read_text(encoding="utf-8")
    probe = page.with_name(page.stem + ".layout.html")
    probe.write_text(text.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = dump_dom(browser, probe, profile, width)
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"the measuring script did not run: {dom[-500:]}")
    return json.loads(html.unescape(found.group(1)))


def screenshot(
    browser: str, page: Path | str, profile: Path, out: Path, width: int = 1280, height: int = 3000,
    wait_ms: int | None = None,
) -> Path:
    """A PNG of a file (Path) or a URL (str); `wait_ms` lets a web app's scripts fetch their data first."""
    wait = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    target = page if isinstance(page, str) else page.as_uri()
    done = _run(browser, profile, f"--window-size={width},{height}", f"--screenshot={out}", *wait, target)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium screenshot failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return out
