"""Debian's chromium, headless: installed on demand (CI is a fresh machine), never skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


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


def dump_dom(browser: str, page: Path, profile: Path) -> str:
    """The DOM after the page loaded (and ran nothing: the report has no scripts)."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", "--dump-dom", page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


def screenshot(
    browser: str, page: Path | str, profile: Path, out: Path, *, size: str = "1200,3000", wait_ms: int | None = None
) -> Path:
    """A PNG of a file (Path) or of a URL (str); `wait_ms` lets a web app's scripts fetch their data first."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", f"--window-size={size}", f"--screenshot={out}",
        *([f"--virtual-time-budget={wait_ms}"] if wait_ms else []),
        page if isinstance(page, str) else page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium screenshot failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return out
