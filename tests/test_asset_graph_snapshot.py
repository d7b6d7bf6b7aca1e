"""The asset graph as a reviewable snapshot: every asset key with its group, kinds and upstream keys, every
asset check, every job (what it selects, its executor and tags) and every schedule.

A change to the graph (a new model, a renamed key, a moved check, a job selecting more) fails this test
until the snapshot is regenerated, so the reviewer sees it as a diff of
tests/__snapshots__/test_asset_graph_snapshot/*.json:

    .venv/bin/python -m pytest tests/test_asset_graph_snapshot.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from dagster_project.definitions import defs


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def _key(key: Any) -> str:
    return key.to_user_string()


def graph_description() -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=_key):
        node = graph.get(key)
        assets[_key(key)] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "executable": node.is_executable,
            "deps": sorted(_key(parent) for parent in node.parent_keys),
        }
    checks = sorted(f"{_key(check.asset_key)}:{check.name}" for check in graph.asset_check_keys)
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):  # Dagster's implicit job of all assets
            continue
        jobs[job.name] = {
            "executor": job.executor_def.name,
            "tags": dict(sorted(job.tags.items())),
            "assets": sorted(_key(k) for k in job.asset_layer.selected_asset_keys),
            "ops": sorted(node.name for node in job.graph.nodes),
        }
    schedules = {
        schedule.name: {"cron": schedule.cron_schedule, "timezone": schedule.execution_timezone,
                        "job": schedule.job_name}
        for schedule in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    return {"assets": assets, "asset_checks": checks, "jobs": jobs, "schedules": schedules}


def test_the_asset_graph_matches_its_snapshot(snapshot_json) -> None:
    assert graph_description() == snapshot_json
