"""dbt docs as a data team reads them: every column of every model, seed and source table the cycle built is
described (checked against the warehouse, so a column added to a model without a description fails), every
node says what it is, and the docs home page is the project's overview, not dbt's default."""

from __future__ import annotations

import json

import pytest

from dagster_project.lib.dbt import prepare_if_stale
from tests.analytics.conftest import AnalyticsWorkspace

pytestmark = pytest.mark.slow  # the session workspace: generation and two full cycles


def test_every_column_of_every_model_source_and_seed_is_described(analytics_workspace: AnalyticsWorkspace) -> None:
    manifest = json.loads(prepare_if_stale().read_text())
    built = analytics_workspace.df("select table_schema, table_name, column_name from information_schema.columns")
    columns = built.groupby(["table_schema", "table_name"])["column_name"].apply(list).to_dict()
    checked, undocumented, undescribed = 0, [], []
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        if node["resource_type"] not in ("model", "seed", "source") or node["package_name"] != "onboarding":
            continue
        if not node.get("description", "").strip():
            undescribed.append(node["unique_id"])
        relation = (node["schema"], node.get("identifier") or node.get("alias") or node["name"])
        described = {name for name, column in node["columns"].items() if column.get("description", "").strip()}
        for column in columns.get(relation, []):
            checked += 1
            if column not in described:
                undocumented.append(f"{node['unique_id']}.{column}")
    assert checked > 400  # the warehouse was read: staging, intermediate, marts, seeds and sources
    assert undescribed == []
    assert undocumented == []


def test_the_docs_home_page_is_the_project_overview() -> None:
    manifest = json.loads(prepare_if_stale().read_text())
    overview = manifest["docs"]["doc.onboarding.__overview__"]["block_contents"]
    for part in ("staging", "intermediate", "marts", "as_of", "activation_events", "roi_"):
        assert part in overview, part
