"""The compiled Jinja templates a dbt invocation keeps for the next process (dagster_project/lib/jinja_code.py).

Each probe is a fresh interpreter running one `dbt compile` in process, with its own code file: the first
compiles the templates and stores them; the next compiles none and renders the same SQL; a file that
cannot be read is ignored and written again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.lib import config

PROBE = """
import json, sys
from pathlib import Path
from dagster_project.lib import dbt, jinja_code
from dagster_project.lib.dbt import PARSE_STATE, _database_of, _prepared_manifest

jinja_code.CODE_FILE = sys.argv[2]  # absolute: the test's own file
jinja_code.install()
compiled, compile_source = [], jinja_code._original
def counted(*args, **kwargs):
    compiled.append(1)
    return compile_source(*args, **kwargs)
jinja_code._original = counted
state = dbt.config.dbt_target_dir() / PARSE_STATE
database = _database_of(_prepared_manifest(state, state.stat().st_mtime)) or "warehouse"
result = dbt.invoke_in_process(["compile", "--select", "customer_onboarding_state"], Path(sys.argv[1]) / "target",
                               {"ONBOARDING_WAREHOUSE": str(Path(sys.argv[1]) / f"{database}.duckdb"),
                                dbt.AS_OF_ENV: "2026-10-01T00:00:00+00:00"})
print(json.dumps({"compiled": len(compiled), "sql": result.results[0].node.compiled_code}))
"""


def _probe(tmp_path: Path, code_file: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), str(code_file)],
        env={**os.environ, "PYTHONPATH": str(config.project_root())}, capture_output=True, text=True,
        timeout=600, cwd=config.project_root(),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_next_process_compiles_no_template_and_renders_the_same_sql(tmp_path: Path) -> None:
    code_file = tmp_path / "jinja_code.marshal"
    first = _probe(tmp_path, code_file)
    assert first["compiled"] > 50 and code_file.stat().st_size > 0, first["compiled"]
    assert "cast('2026-10-01T00:00:00+00:00' as timestamptz)" in first["sql"]

    second = _probe(tmp_path, code_file)
    assert second["compiled"] == 0
    assert second["sql"] == first["sql"]

    # A file that cannot be read (cut short, another format) is ignored: everything compiles, and it is rewritten.
    code_file.write_bytes(code_file.read_bytes()[:1000])
    third = _probe(tmp_path, code_file)
    assert third["compiled"] > 50 and third["sql"] == first["sql"]
    assert _probe(tmp_path, code_file)["compiled"] == 0
