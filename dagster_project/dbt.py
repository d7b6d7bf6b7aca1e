"""The dbt project as Dagster sees it: one DbtProject, one translator, the manifest kept fresh.

The translator is the only bridge between dbt and Dagster: every dbt node's asset key is
[layer, name] (layer = the schema: staging, intermediate, marts; seeds are ["seeds", name]),
so sources line up with the Python assets that write them (raw/*, ops/*), and the group is
the layer. Nothing else in the code location special-cases a dbt node.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from dagster_project import config

# The model that reads the AI segmentation's decisions: everything from it on runs after the
# segmentation asset, everything else before (two dbt steps in the hourly job).
SEGMENTATION_BOUNDARY = "int_accounts_segmented"
AFTER_SEGMENTATION = f"{SEGMENTATION_BOUNDARY}+"


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


def _newest_source_mtime(root: Path) -> float:
    newest = 0.0
    for pattern in ("*.sql", "*.yml", "*.csv"):
        for path in root.rglob(pattern):
            if "target" in path.parts or "dbt_packages" in path.parts:
                continue
            newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project when its manifest is missing or older than a model, seed or YAML file.

    `make` prepares it at install time; this keeps `onboarding run` correct after an analyst edits
    a model, at the cost of one `dbt parse` (partial parsing keeps it to seconds).
    """
    proj = project()
    manifest = proj.manifest_path
    stale = force or not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(proj.project_dir)
    if stale:
        proj.target_path.mkdir(parents=True, exist_ok=True)
        completed = subprocess.run(
            [dbt_executable(), "parse", "--quiet", "--target-path", str(proj.target_path),
             "--project-dir", str(proj.project_dir), "--profiles-dir", str(proj.profiles_dir)],
            capture_output=True,
            text=True,
            env=dbt_env(),
        )
        if completed.returncode != 0 or not manifest.exists():
            detail = (completed.stdout + completed.stderr).strip().splitlines()
            raise RuntimeError("dbt parse failed: " + (detail[-1] if detail else "no output"))
    return manifest


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def dbt_env(warehouse: Path | None = None) -> dict[str, str]:
    """The environment of a dbt subprocess: the profile reads the warehouse from ONBOARDING_WAREHOUSE."""
    import os

    env = dict(os.environ)
    env["ONBOARDING_WAREHOUSE"] = str(warehouse or config.warehouse_path())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env
