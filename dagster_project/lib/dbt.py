"""The dbt project as Dagster sees it: one DbtProject, one translator, a manifest prepared ahead.

The translator is the only bridge between dbt and Dagster: every dbt node's asset key is
[layer, name] (layer = the schema: staging, intermediate, marts; seeds are ["seeds", name]),
so sources line up with the Python assets that write them (raw/*, ops/*), and the group is
the layer. Nothing else in the code location special-cases a dbt node: what each dbt step of
the cycle builds and tests is a selector of dbt_project/selectors.yml.

The manifest is prepared once, at install time (`make install`, or `python -m dagster_project.lib.dbt`
after editing the dbt project; `make` redoes it when a dbt file is newer), never at import:
loading the code location reads that one file and starts no process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from dagster_project.lib import config, jinja_code

# dbt_project/selectors.yml: the two hourly steps around the AI segmentation (split by what reads
# its decisions) and the whole-history data tests of the daily job.
CORE_SELECTOR = "hourly_core"
JOURNEY_SELECTOR = "hourly_journey"
DAILY_TESTS_SELECTOR = "daily_tests"
# The environment variable the as_of() macro reads the cycle's clock from (macros/as_of.sql).
AS_OF_ENV = "ONBOARDING_AS_OF"
FINGERPRINT_ENV = "ONBOARDING_DBT_FINGERPRINT"
FINGERPRINT_FILE = "project_fingerprint"
_PARSE_TIMES = {"created_at", "generated_at", "invocation_id", "invocation_started_at", "run_started_at"}


class OnboardingTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        if resource_type == "seed":
            return dg.AssetKey(["seeds", dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        return dbt_resource_props.get("schema") or "dbt"


@cache
def project() -> DbtProject:
    return DbtProject(
        project_dir=config.dbt_project_dir(),
        profiles_dir=config.dbt_project_dir(),
        target_path=config.dbt_target_dir(),
    )


def manifest_path() -> Path:
    """The prepared manifest; a clear error (not a parse) when it was never prepared."""
    path = config.dbt_target_dir() / "manifest.json"
    if not path.exists():
        raise RuntimeError(
            f"no dbt manifest at {path}: prepare it with `make install` or `.venv/bin/python -m dagster_project.lib.dbt`"
        )
    return path


def prepare() -> Path:
    """Parse the dbt project into its manifest and dbt's partial-parse state, as a deployment does
    at build time (`dbt parse`, the venv's dbt, in a subprocess)."""
    proj = project()
    proj.target_path.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--no-partial-parse", "--target-path", str(proj.target_path),
         "--project-dir", str(proj.project_dir), "--profiles-dir", str(proj.profiles_dir)],
        capture_output=True,
        text=True,
        env=dbt_env(),
    )
    if completed.returncode != 0 or not proj.manifest_path.exists():
        detail = (completed.stdout + completed.stderr).strip().splitlines()
        raise RuntimeError("dbt parse failed: " + (detail[-1] if detail else "no output"))
    fingerprint = hashlib.sha256((proj.project_dir / "dbt_project.yml").read_bytes())
    fingerprint.update(_without_parse_times(json.loads(proj.manifest_path.read_bytes())).encode())
    (proj.target_path / FINGERPRINT_FILE).write_text(fingerprint.hexdigest()[:16] + "\n")
    _validated_schemas()  # stored beside the manifest, for each cycle's warm-up
    return proj.manifest_path


def _without_parse_times(value: Any) -> str:
    """The manifest as canonical JSON without what differs between two parses of the same project."""
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in _PARSE_TIMES}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    return json.dumps(strip(value), sort_keys=True)


def project_fingerprint() -> str | None:
    """What the project was when prepared: its models, seeds, tests, macros and vars (the manifest
    and dbt_project.yml, hashed by prepare()). The models that rebuild only changed accounts rebuild
    every account when it differs from their last build's (dbt_project/macros/account_scope.sql)."""
    path = config.dbt_target_dir() / FINGERPRINT_FILE
    return path.read_text().strip() if path.exists() else None


def _newest_source_mtime(root: Path) -> float:
    newest = 0.0
    for pattern in ("*.sql", "*.yml", "*.csv"):
        for path in root.rglob(pattern):
            # dbt itself writes .user.yml (its anonymous id) beside the profile on its first run.
            if "target" in path.parts or "dbt_packages" in path.parts or path.name.startswith("."):
                continue
            newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_stale() -> bool:
    path = config.dbt_target_dir() / "manifest.json"
    return not path.exists() or path.stat().st_mtime < _newest_source_mtime(config.dbt_project_dir())


def prepare_if_stale() -> Path:
    """Prepare when the manifest is missing or older than a dbt file: for a test session or a
    development checkout (`onboarding run`). The code location never calls it (it only reads the manifest)."""
    return prepare() if manifest_is_stale() else manifest_path()


PARSE_STATE = "partial_parse.msgpack"


def run_target(name: str) -> Path:
    """A fresh dbt target folder for one invocation, seeded with dbt's partial-parse state, so dbt
    re-parses only what changed since (nothing, from one cycle to the next).

    dbt also re-parses everything when the profile changed, and the profile holds the warehouse's
    path: the state prepared at install time serves the warehouse it was prepared for, and each
    invocation hands its state back (keep_parse_state), so a workspace pays one parse, once.
    """
    prepared = config.dbt_target_dir()
    target = prepared / "runs" / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    state = prepared / PARSE_STATE
    if state.exists():
        shutil.copy(state, target / PARSE_STATE)
    return target


def keep_parse_state(target: Path) -> None:
    """Hand an invocation's partial-parse state back to the next one (an atomic replace)."""
    state = target / PARSE_STATE
    if state.exists():
        os.replace(state, config.dbt_target_dir() / PARSE_STATE)


@cache
def _prepared_manifest(path: Path, mtime: float) -> Any:
    """The manifest dbt prepared at install time, as dbt's own object (its partial-parse state), read
    once per process and per version of the file: dbt then runs without parsing anything."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    manifest = Manifest.from_msgpack(path.read_bytes(), decoder=extended_mashumuro_decoder)
    # The `graph` context of a macro (graph.nodes, graph.sources: the send_invariants test, run-operations):
    # dbt builds it while parsing, the prepared state lacks it (~0.1 s, in the warm-up).
    manifest.build_flat_graph()
    return manifest


def _database_of(manifest: Any) -> str | None:
    return next((node.database for node in manifest.nodes.values() if node.database), None)


@cache
def _parsed_manifest(database: str, mtime: float, project_dir: str) -> Any:
    from dbt.cli.main import dbtRunner

    target = config.dbt_target_dir() / "runs" / f"parse-{database}"
    parsed = dbtRunner().invoke(["parse", "--project-dir", project_dir, "--profiles-dir", project_dir,
                                 "--target-path", str(target), "--log-path", str(target), "--quiet"])
    if not parsed.success:
        raise RuntimeError(f"dbt parse failed for the warehouse database {database!r}: {parsed.exception}")
    return parsed.result


# dbt's configuration classes whose JSON schemas dbt builds, once per process, to validate the project,
# profile, packages and selectors on a process's first invocation (~0.7 s of its ~1.7 s of set-up).
_VALIDATED = (
    ("dbt.adapters.duckdb.credentials", "DuckDBCredentials"),
    ("dbt.contracts.project", "Configuration"),
    ("dbt.contracts.project", "PackageConfig"),
    ("dbt.contracts.project", "ProfileConfig"),
    ("dbt.contracts.project", "Project"),
    ("dbt.contracts.project", "ProjectFlags"),
    ("dbt.contracts.selection", "SelectorFile"),
)
_warming: threading.Thread | None = None
# Those schemas as built once, beside the prepared manifest, for the versions of dbt that built them.
SCHEMAS_FILE = "dbt_json_schemas.json"


def _schemas_key() -> str:
    from importlib.metadata import version

    return " ".join(f"{name}=={version(name)}" for name in ("dbt-core", "dbt-common", "dbt-duckdb", "mashumaro"))


def _validated_schemas() -> None:
    """Give each class of _VALIDATED its schema: read from SCHEMAS_FILE when the same versions of dbt
    wrote it (~0.35 s of CPU less per process), else built and written there for the next process."""
    import importlib

    from dbt_common.dataclass_schema import dbtClassMixin

    classes = {f"{module}:{name}": getattr(importlib.import_module(module), name) for module, name in _VALIDATED}
    path = config.dbt_target_dir() / SCHEMAS_FILE
    key = _schemas_key()
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    schemas = stored.get("schemas", {}) if stored.get("key") == key else {}
    if set(schemas) != set(classes):
        schemas = {name: cls.json_schema() for name, cls in classes.items()}
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(json.dumps({"key": key, "schemas": schemas}))
            os.replace(scratch, path)
        return
    built = dbtClassMixin.__dict__["json_schema"].__func__  # dbt's own: built once per class (lru_cache)
    for name, cls in classes.items():
        def json_schema(klass: type, _cls: type = cls, _schema: dict = schemas[name]) -> dict:
            return _schema if klass is _cls else built(klass)

        cls.json_schema = classmethod(json_schema)


def _warm() -> None:
    try:
        _validated_schemas()
        jinja_code.load(config.dbt_target_dir() / jinja_code.CODE_FILE)
        state = config.dbt_target_dir() / PARSE_STATE
        if state.exists():
            _prepared_manifest(state, state.stat().st_mtime)
    except Exception:  # the invocation that waits for it redoes the same work, and reports what fails
        return


def warm_up() -> None:
    """Start, in a background thread, what a process's first dbt invocation would otherwise begin with:
    dbt's configuration schemas and the prepared manifest (~1 s). Called when a cycle's run starts, so
    it overlaps the steps before the first dbt step (landing and data quality, mostly DuckDB, which
    releases the GIL); invoke_in_process waits for it to end."""
    global _warming
    if _warming is None:
        _warming = threading.Thread(target=_warm, name="dbt-warm-up", daemon=True)
        _warming.start()


def _behavior_flag_source() -> str:
    """dbt-common's `BehaviorFlagRendered._default_source` (the module that declared a behavior flag: the first
    caller outside dbt_common.behavior_flags), read from the frames' globals instead of `inspect.stack()`.

    dbt-common 1.39 computes it for every flag of every adapter it creates, even for a flag that names its
    source (`flag.get("source", default())`), and `inspect.stack()` reads the source line of every frame, which
    makes `inspect.getmodule` scan all of `sys.modules`: in a cycle's process (Dagster, dbt, DuckDB, GX loaded)
    that cost 0.4-0.9 s per dbt invocation, two per cycle (1.8 s of an hour's cycle under py-spy at 100k). The
    name is the same for a flag declared in a module file (an adapter's: `dbt.adapters.base.impl`): a frame's
    module is its globals' `__name__`, and a frame without one (a Jinja template's code) is skipped, as
    `inspect.getmodule` skips it. They differ only for code without a file (`python -c`): `__main__` here,
    "Unknown" in dbt-common. The name is only ever shown in the event a disabled flag fires.
    """
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return name
        frame = frame.f_back
    return "Unknown"


def _use_cheap_behavior_flag_source() -> None:
    from dbt_common.behavior_flags import BehaviorFlagRendered

    BehaviorFlagRendered._default_source = staticmethod(_behavior_flag_source)


def invoke_in_process(args: list[str], target: Path, env: Mapping[str, str]) -> Any:
    """One dbt command in this process, from the prepared manifest (no subprocess, no parse).

    `env` is set for the invocation only (the profile reads the warehouse from it, the as_of() macro
    the clock). dbt-duckdb keeps its database handle in a class attribute across invocations: it is
    closed here, so the next Python asset (or dbt step) is the only writer of the file.
    Returns dbt's RunExecutionResult; raises when dbt could not run at all.
    """
    if _warming is not None:
        # First: two threads importing dbt's modules at once can meet one half-imported (its modules
        # import one another), an ImportError.
        _warming.join()
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    _use_cheap_behavior_flag_source()
    jinja_code.load(config.dbt_target_dir() / jinja_code.CODE_FILE)
    state = config.dbt_target_dir() / PARSE_STATE
    if not state.exists():
        raise RuntimeError(f"no prepared dbt state at {state}: run `make install` or `.venv/bin/python -m dagster_project.lib.dbt`")
    project_dir = str(config.dbt_project_dir())
    env = {FINGERPRINT_ENV: project_fingerprint() or "", **env}
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        manifest = _prepared_manifest(state, state.stat().st_mtime)
        # dbt-duckdb names the database after the file: a warehouse named otherwise than the one the
        # manifest was prepared for gets its own parse, once per process.
        database = config.warehouse_path().stem  # the invocation's ONBOARDING_WAREHOUSE, set just above
        if _database_of(manifest) not in (None, database):
            manifest = _parsed_manifest(database, state.stat().st_mtime, project_dir)
        if not manifest.flat_graph:
            manifest.build_flat_graph()
        result = dbtRunner(manifest=manifest).invoke(
            [*args, "--project-dir", project_dir, "--profiles-dir", project_dir, "--target-path", str(target),
             "--log-path", str(target), "--quiet", "--no-partial-parse",
             # The run's dbt.log (kept when a step fails) holds its warnings and errors: a debug-level
             # file log serialised every event of every node (~0.3 s of CPU per step).
             "--log-level-file", "warn",
             # The manifest is the prepared one: writing it (and run_results.json) again costs
             # seconds per call; the results come back as objects.
             "--no-write-json"]
        )
    finally:
        with DuckDBConnectionManager._LOCK:
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
                DuckDBConnectionManager._ENV = None
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        jinja_code.save()
    if result.result is None:
        raise RuntimeError(f"dbt {args[0]} could not run: {' '.join(str(result.exception).split())[:500]}")
    return result.result


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def dbt_env(warehouse: Path | None = None) -> dict[str, str]:
    """The environment of a dbt subprocess: the profile reads the warehouse from ONBOARDING_WAREHOUSE."""
    env = dict(os.environ)
    env["ONBOARDING_WAREHOUSE"] = str(warehouse or config.warehouse_path())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


if __name__ == "__main__":
    print(f"dbt manifest prepared: {prepare()}")
