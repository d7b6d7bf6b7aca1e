"""The layering the README promises, checked in fresh interpreters.

- `reverse_etl` is a library: importing every one of its modules loads no `dagster_project` module (it
  takes its settings, connection and paths as arguments).
- Loading the code location (`dagster_project.definitions`) starts no subprocess and opens no file of the
  project beyond the dbt manifest (Python modules, the venv's packages and the interpreter's own files
  aside).
- Nothing under `dagster_project/defs` or `dagster_project/lib` imports the CLI or the runner, and `lib`
  imports no domain: the definitions never come back around to whoever imports them.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_reverse_etl_imports_no_dagster_project_module() -> None:
    code = """
import importlib, json, pkgutil, sys
import reverse_etl
names = [m.name for m in pkgutil.walk_packages(reverse_etl.__path__, "reverse_etl.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": len(names), "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "dagster_project")}))
"""
    result = json.loads(_run(code))
    assert result["modules"] > 20
    assert result["loaded"] == []


def test_loading_the_definitions_starts_no_process_and_reads_only_the_manifest() -> None:
    # dagster and dagster_dbt are imported before the hook: their own import runs `file` once
    # (platform.architecture() in dagster's vendored croniter); what is measured is the project's code.
    code = f"""
import json, os, sys
import dagster, dagster_dbt
root = {str(ROOT)!r} + os.sep
opened, spawned = [], []

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = os.path.abspath(os.fsdecode(args[0]))
        # Python modules, the venv and the package's own metadata (entry points) are the import system's.
        if (path.startswith(root) and not path.endswith((".py", ".pyc")) and "/.venv/" not in path
                and ".egg-info" not in path):
            opened.append(os.path.relpath(path, root))
    elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.fork"):
        spawned.append(event)

sys.addaudithook(hook)
import dagster_project.definitions as d
d.defs.resolve_asset_graph()
print(json.dumps({{"opened": sorted(set(opened)), "spawned": spawned}}))
"""
    result = json.loads(_run(code))
    assert result["spawned"] == []
    manifest = os.path.relpath(
        Path(os.environ.get("ONBOARDING_DBT_TARGET") or ROOT / "dbt_project" / "target") / "manifest.json", ROOT)
    others = [path for path in result["opened"] if path != manifest and not path.startswith("..")]
    # Directory listings of Python packages (the import system) are not files the project reads. The
    # data-quality checks are named from the suites' file names (a listing), no suite is read.
    assert [path for path in others if not (ROOT / path).is_dir()] == []


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_domains_and_building_blocks_never_import_the_runner() -> None:
    package = ROOT / "dagster_project"
    offenders = []
    for folder, forbidden in (("defs", ("dagster_project.cli", "dagster_project.definitions")),
                              ("lib", ("dagster_project.cli", "dagster_project.definitions", "dagster_project.defs"))):
        for path in sorted((package / folder).rglob("*.py")):
            bad = [name for name in _imports(path) if name.startswith(forbidden)]
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    assert offenders == []


def test_loading_the_definitions_leaves_pandas_to_the_daily_report() -> None:
    """pandas (~0.3 s of every hourly cycle's start) loads with the report's rendering, not with the code location."""
    code = """
import json, sys
import dagster_project.definitions as d
d.defs.resolve_asset_graph()
print(json.dumps(sorted(name for name in ("pandas", "matplotlib") if name in sys.modules)))
"""
    assert json.loads(_run(code)) == []


def test_the_instance_event_log_loads_no_code_location() -> None:
    """`.dagster.yaml` names dagster_project.lib.event_log: the webserver, the daemon and every run load it
    with the instance, before (or without) the code location, so it imports no domain and no dbt."""
    code = """
import json, sys
import dagster_project.lib.event_log
print(json.dumps(sorted({name.split(".")[0] if not name.startswith("dagster_project") else name
                         for name in sys.modules
                         if name.startswith(("dagster_project.defs", "dagster_project.definitions", "dbt",
                                             "dagster_dbt", "pandas", "duckdb"))})))
"""
    assert json.loads(_run(code)) == []
