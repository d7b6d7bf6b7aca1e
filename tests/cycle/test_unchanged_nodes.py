"""An hourly dbt step leaves out the seeds and clock-free views the same dbt project already built
(dagster_project/defs/dbt/unchanged.py, dbt_project/macros/build_fingerprint.sql).

Re-creating the same view or reloading the same CSV each hour changed nothing and cost dbt ~50 ms
per node: 19 of the 35 nodes of an idle core step. What must hold: a view whose SQL embeds the
clock is re-created every hour; a changed project rebuilds everything; and the marts a cycle leaves
behind are the same rows as when every node is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb
from dagster_dbt.utils import select_unique_ids

from dagster_project.defs.dbt import unchanged
from dagster_project.lib import config
from dagster_project.lib.dbt import CORE_SELECTOR, FINGERPRINT_FILE, JOURNEY_SELECTOR
from tests.cycle.conftest import CLOCKS, Workspace, home

MARTS = ("customer_onboarding_state", "onboarding_triggers", "customerio_people", "crm_accounts", "csm_alerts",
         "activation_by_path", "holdout_lift", "stall_by_step")


def _manifest() -> dict:
    return json.loads((config.dbt_target_dir() / "manifest.json").read_text())


def test_only_seeds_and_clock_free_views_are_left_out_and_the_rest_of_the_selection_still_runs(tmp_path: Path):
    from dagster_project.lib.dbt import invoke_in_process

    manifest = _manifest()
    for selector in (CORE_SELECTOR, JOURNEY_SELECTOR):
        selection = select_unique_ids(select="", exclude="", selector=selector, project=None, manifest_json=manifest)
        found = unchanged.candidates(manifest, selection)
        assert all(manifest["nodes"][u]["config"]["materialized"] in ("view", "seed") for u in found)
        # What dbt runs without them: the selector's every other model, seed and test, none added.
        with home(tmp_path):
            listed = invoke_in_process(["ls", *unchanged.select_args(manifest, selection, found), "--output", "json",
                                        "--output-keys", "unique_id"], tmp_path / "target",
                                       {"ONBOARDING_WAREHOUSE": str(tmp_path / "warehouse.duckdb")})
        assert {json.loads(line)["unique_id"] for line in listed} == {
            u for u in selection if not u.startswith("source.")} - set(found), selector
    core = select_unique_ids(select="", exclude="", selector=CORE_SELECTOR, project=None, manifest_json=manifest)
    names = {u.split(".")[-1] for u in unchanged.candidates(manifest, core)}
    # Every seed of the core step and its clock-free views; never a view whose SQL embeds the clock.
    assert {u.split(".")[-1] for u in core if u.startswith("seed.")} <= names
    assert {"base_segment__messages", "stg_raw__firmographics", "stg_ops__send_gate"} <= names
    assert not names & {"stg_segment__tracks", "stg_segment__messages", "stg_segment__groups", "stg_segment__identifies"}
    assert unchanged.reads_clock(manifest, "model.onboarding.stg_segment__tracks")
    assert not unchanged.reads_clock(manifest, "model.onboarding.base_segment__messages")
    # The analytics marts are views on DuckDB: left out too.
    journey = select_unique_ids(select="", exclude="", selector=JOURNEY_SELECTOR, project=None, manifest_json=manifest)
    assert {"activation_by_path", "holdout_lift"} <= {u.split(".")[-1] for u in unchanged.candidates(manifest, journey)}


def _mark(path: Path, relations: set[str]) -> None:
    """A comment on each relation's first column: re-creating the relation drops it."""
    with duckdb.connect(str(path)) as con:
        for relation in sorted(relations):
            schema, name = relation.split(".")
            column = con.execute("select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
                                 "order by column_index limit 1", [schema, name]).fetchone()[0]
            con.execute(f'comment on column {schema}.{name}."{column}" is \'kept\'')


def _marked(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.execute("select schema_name || '.' || table_name from duckdb_columns() "
                                          "where comment = 'kept'").fetchall()}


@contextmanager
def _another_project(tmp_path: Path) -> Iterator[None]:
    """The same prepared dbt project under another fingerprint: what an upgrade or an analyst's edit looks like."""
    target = tmp_path / "target"
    shutil.copytree(config.dbt_target_dir(), target, ignore=shutil.ignore_patterns("runs"))
    (target / FINGERPRINT_FILE).write_text("0123456789abcdef\n")
    saved = os.environ.get("ONBOARDING_DBT_TARGET")
    os.environ["ONBOARDING_DBT_TARGET"] = str(target)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("ONBOARDING_DBT_TARGET", None)
        else:
            os.environ["ONBOARDING_DBT_TARGET"] = saved


def test_an_hourly_cycle_rebuilds_only_what_its_clock_or_project_changed_and_equals_a_full_build(
        workspace: Workspace, tmp_path: Path):
    from dagster_project.cli.cycle import run_cycle

    manifest = _manifest()
    selection = set()
    for selector in (CORE_SELECTOR, JOURNEY_SELECTOR):
        selection |= select_unique_ids(select="", exclude="", selector=selector, project=None, manifest_json=manifest)
    left_out = {".".join(relation) for relation in unchanged.candidates(manifest, selection).values()}
    clock = CLOCKS[-1] + timedelta(hours=1)
    roots = {}
    for name in ("same", "changed"):
        roots[name] = tmp_path / name
        roots[name].mkdir()
        shutil.copy(workspace.root / "warehouse.duckdb", roots[name] / "warehouse.duckdb")
        shutil.copytree(workspace.root / "landing", roots[name] / "landing")
    for root in roots.values():
        _mark(root / "warehouse.duckdb", left_out | {"staging.stg_segment__tracks"})

    with home(roots["same"]):
        run_cycle(clock)
    kept = _marked(roots["same"] / "warehouse.duckdb")
    assert kept == left_out, f"re-created although unchanged: {sorted(left_out - kept)}"
    with duckdb.connect(str(roots["same"] / "warehouse.duckdb"), read_only=True) as con:
        sql = con.execute("select sql from duckdb_views() where view_name = 'stg_segment__tracks'").fetchone()[0]
    assert f"{clock:%Y-%m-%dT%H:%M:%S}" in sql, "a view whose SQL embeds the clock was not re-created"

    with _another_project(tmp_path), home(roots["changed"]):
        run_cycle(clock)
    assert not _marked(roots["changed"] / "warehouse.duckdb"), "a changed project left a node out"
    _assert_same_rows(roots["same"] / "warehouse.duckdb", roots["changed"] / "warehouse.duckdb", "marts", MARTS)


def _assert_same_rows(path: Path, other_path: Path, schema: str, names, where: str = "") -> None:
    """Each relation holds the same rows (with their multiplicity) in both warehouses."""
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute(f"attach '{other_path}' as other (read_only)")
        for name in names:
            for a, b in (("warehouse", "other"), ("other", "warehouse")):
                extra = con.execute(f"select count(*) from (select * from {a}.{schema}.{name} "
                                    f"except all select * from {b}.{schema}.{name})").fetchone()[0]
                assert extra == 0, f"{name}{where}: {extra} rows of {a} not in {b}"


# An idle hour's core step also leaves out the models that would change nothing (unchanged.quiet): the event-driven
# incremental models whose batch would be empty, and the clock-free per-account models whose inputs did not move.
EVENT_DRIVEN = ("int_account_events_aggregated", "int_account_memberships", "int_account_traits_latest",
                "int_contacts_unsubscribed", "int_users_identified")
CLOCK_FREE_SCOPED = ("int_accounts_profiled", "int_accounts_enriched", "int_accounts_scored")


def _core_step(root: Path, clock) -> set[str]:
    """The cycle's core dbt step alone, at this clock: the models it reported as not rebuilt."""
    import dagster as dg

    from dagster_project.defs.dbt.assets import dbt_core
    from dagster_project.lib.clock import AS_OF_TAG
    from dagster_project.lib.resources import WarehouseResource

    with home(root):
        result = dg.materialize([dbt_core], resources={"warehouse": WarehouseResource(path=str(root / "warehouse.duckdb"))},
                                instance=dg.DagsterInstance.ephemeral(), tags={AS_OF_TAG: config.iso(clock)})
    assert result.success
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()
            if e.step_materialization_data.materialization.metadata.get("rebuilt") is not None}


def _plant(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def test_an_idle_hour_leaves_out_the_models_with_nothing_new_and_a_new_message_rebuilds_them(
        workspace: Workspace, tmp_path: Path):
    """Left out only while no message lies beyond what their last build saw: one that became known since (already
    in raw, ahead of the clock) or one landed late (a new load id, known long ago) brings every one of them back.
    Hour by hour, the tables equal those of the same models run every hour (row for row, their batch stamps
    included: an empty batch writes nothing); a replayed hour and a build outside a cycle leave nothing out."""
    from dagster_project.lib.dbt import invoke_in_process, project_fingerprint

    models = EVENT_DRIVEN + CLOCK_FREE_SCOPED
    scoped, every = tmp_path / "scoped", tmp_path / "every"
    for root in (scoped, every):
        root.mkdir()
        shutil.copy(workspace.root / "warehouse.duckdb", root / "warehouse.duckdb")
    last = CLOCKS[-1]

    def step(clock) -> set[str]:
        """The cycle's core step in one copy, the same models run in the other: the models left out."""
        left_out = _core_step(scoped, clock)
        # The staging views they read embed the clock: re-created each hour in both.
        views = ("stg_segment__messages", "stg_segment__tracks", "stg_segment__groups", "stg_segment__identifies")
        with home(every):
            built = invoke_in_process(["run", "--select", *views, *models], every / "target",
                                      {"ONBOARDING_WAREHOUSE": str(every / "warehouse.duckdb"),
                                       "ONBOARDING_AS_OF": config.iso(clock)})
        assert [str(r.status) for r in built.results] == ["success"] * (len(views) + len(models))
        _assert_same_rows(scoped / "warehouse.duckdb", every / "warehouse.duckdb", "intermediate", models, f" at {clock}")
        return {name for name in left_out if name in models}

    def plant(known_at, load_id: str) -> None:
        # A track, an identify and a group call of existing accounts and people, copied under new ids.
        for root in (scoped, every):
            _plant(root / "warehouse.duckdb", f"""
                insert into raw.segment_messages
                select 'planted-{known_at:%H}-' || message_id, type, event, user_id, anonymous_id, group_id,
                    timestamptz '{known_at.isoformat()}', timestamptz '{known_at.isoformat()}',
                    timestamptz '{known_at.isoformat()}', {load_id}, payload
                from raw.segment_messages
                where type in ('track', 'identify', 'group') and user_id is not null and group_id is not null
                qualify row_number() over (partition by type order by message_id) = 1""")

    assert step(last + timedelta(hours=1)) == set(models)
    # Known since the last build, already landed (an old load id): the clock reached it.
    plant(last + timedelta(minutes=90), "1")
    assert not step(last + timedelta(hours=2))
    assert step(last + timedelta(hours=3)) == set(models)
    # Landed late: a new load of messages known before the last build's clock.
    for root in (scoped, every):
        _plant(root / "warehouse.duckdb", "insert into raw.loaded_files by name select max(load_id) + 1 as load_id, "
               "'planted/late.jsonl' as path, 0 as size_bytes, 0 as mtime, 'planted' as sha256, 3 as lines_read, "
               "3 as messages_loaded, 0 as duplicates, 0 as quarantined, 0 as blank_lines, now() as loaded_at "
               "from raw.loaded_files")
    plant(last - timedelta(hours=1), "(select max(load_id) from raw.loaded_files)")
    assert not step(last + timedelta(hours=4))

    # A replayed hour (a clock not after the last build's) and a build outside a cycle (no project) leave nothing out.
    manifest = _manifest()
    core = select_unique_ids(select="", exclude="", selector=CORE_SELECTOR, project=None, manifest_json=manifest)
    with duckdb.connect(str(scoped / "warehouse.duckdb"), read_only=True) as con:
        left_out = unchanged.unchanged(con, manifest, core, project_fingerprint())
        later = unchanged.quiet(con, manifest, core, project_fingerprint(), last + timedelta(hours=5), left_out)
        assert {u.split(".")[-1] for u in later} == set(models)
        assert not unchanged.quiet(con, manifest, core, project_fingerprint(), last + timedelta(hours=4), left_out)
        assert not unchanged.quiet(con, manifest, core, None, last + timedelta(hours=5), left_out)
