"""The dbt warm-up a cycle's run starts (dagster_project/lib/dbt.py, warm_up): it must do what the
process's first dbt invocation would otherwise do first, so that invocation finds it done.

In a fresh interpreter (this test session's own caches are warm): after the warm-up, an invocation
builds no configuration schema of its own and reads no manifest again; without it, it builds both. The
warm-up stores the schemas it built (SCHEMAS_FILE): the next process reads them and builds none, unless
another version of dbt stored them.
A dbt release that validates one more class makes the first test fail: add the class to _VALIDATED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.lib import config

PROBE = """
import importlib, json, sys
from pathlib import Path
from dbt_common.dataclass_schema import dbtClassMixin
from dagster_project.lib import dbt

dbt.SCHEMAS_FILE = sys.argv[4]  # absolute: the test's own file of stored schemas
if sys.argv[1] in ("warm", "racing"):
    dbt.warm_up()
    if sys.argv[1] == "warm":
        dbt._warming.join()
schemas, manifests = dbtClassMixin.json_schema.cache_info().misses, dbt._prepared_manifest.cache_info().misses
dbt.invoke_in_process(["ls", "--select", "stg_segment__tracks", "--output", "name"], Path(sys.argv[2]),
                      {"ONBOARDING_WAREHOUSE": sys.argv[3], dbt.AS_OF_ENV: "2026-10-01T00:00:00+00:00"})
built = dbtClassMixin.__dict__["json_schema"].__func__
classes = [getattr(importlib.import_module(m), n) for m, n in dbt._VALIDATED]
print(json.dumps({
    "warm": [schemas, manifests],
    "invocation": [dbtClassMixin.json_schema.cache_info().misses - schemas,
                   dbt._prepared_manifest.cache_info().misses - manifests],
    "same_schemas": all(cls.json_schema() == built(cls) for cls in classes),
}))
"""


def _probe(mode: str, tmp_path: Path) -> dict[str, list[int]]:
    env = {**os.environ, "PYTHONPATH": str(config.project_root())}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(tmp_path / mode), str(tmp_path / "warehouse.duckdb"),
         str(tmp_path / "schemas.json")],
        env=env, capture_output=True, text=True, check=True, cwd=config.project_root(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_first_invocation_after_the_warm_up_builds_no_schema_and_reads_no_manifest(tmp_path: Path) -> None:
    figures = _probe("warm", tmp_path)  # no stored schemas yet: built, then stored
    assert figures["warm"][0] >= 7 and figures["warm"][1] == 1, figures
    assert figures["invocation"] == [0, 0], figures
    stored = json.loads((tmp_path / "schemas.json").read_text())
    assert len(stored["schemas"]) == 7 and "dbt-core==" in stored["key"]

    figures = _probe("warm", tmp_path)  # the next process reads them: it builds none at all
    assert figures["warm"] == [0, 1] and figures["invocation"] == [0, 0], figures
    assert figures["same_schemas"], figures

    # Schemas stored by other versions of dbt are built again.
    (tmp_path / "schemas.json").write_text(json.dumps({**stored, "key": "dbt-core==0.0.1"}))
    figures = _probe("warm", tmp_path)
    assert figures["warm"][0] >= 7 and figures["invocation"] == [0, 0], figures
    assert json.loads((tmp_path / "schemas.json").read_text())["key"] == stored["key"]


def test_an_invocation_right_after_the_warm_up_starts_waits_for_it(tmp_path: Path) -> None:
    """dbt's modules import one another: the invocation imports none before the warm-up's thread ended
    (two threads importing them at once met a half-imported module: ImportError)."""
    for _ in range(3):  # the probe fails (check=True) when the invocation raised
        figures = _probe("racing", tmp_path)
        assert figures["same_schemas"] and sum(figures["warm"] + figures["invocation"]) >= 1, figures


def test_without_the_warm_up_the_first_invocation_does_both(tmp_path: Path) -> None:
    figures = _probe("cold", tmp_path)
    assert figures["warm"] == [0, 0], figures
    assert figures["invocation"][0] >= 7 and figures["invocation"][1] == 1, figures


def test_a_cycle_starts_the_warm_up_and_its_first_dbt_step_waits_for_it(workspace) -> None:
    """The shared workspace's cycles ran in this process, through the cycle's executor."""
    from dagster_project.lib import dbt

    assert dbt._warming is not None and dbt._warming.name == "dbt-warm-up"
    assert not dbt._warming.is_alive()
