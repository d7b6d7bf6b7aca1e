"""The segmentation assets slot into the code location between the two dbt steps, by keys alone."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.segmentation.assets import (
    ACCOUNT_SEGMENTATION,
    FIRMOGRAPHICS,
    SCORED,
    SEGMENTATION_ACCURACY,
    SEGMENTATION_ASSETS,
    SEGMENTATION_CHECKS,
    SEGMENTATION_RESOURCES,
    SEGMENTED,
)


def _defs() -> dg.Definitions:
    from dagster_project.definitions import defs

    keys = {key for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) for key in a.keys}
    if ACCOUNT_SEGMENTATION in keys:  # already wired by definitions.py
        return defs
    mine = dg.Definitions(assets=SEGMENTATION_ASSETS, asset_checks=SEGMENTATION_CHECKS, resources=SEGMENTATION_RESOURCES)
    return dg.Definitions.merge(defs, mine)


def test_segmentation_sits_between_the_dbt_steps() -> None:
    graph = _defs().resolve_asset_graph()
    assert SCORED in graph.get(ACCOUNT_SEGMENTATION).parent_keys
    # dbt reads both Python-written tables through a staging view (intermediate models read no source).
    decisions = dg.AssetKey(["staging", "stg_ops__account_segmentation"])
    assert ACCOUNT_SEGMENTATION in graph.get(decisions).parent_keys and decisions in graph.get(SEGMENTED).parent_keys
    assert graph.get(decisions).assets_def is graph.get(SEGMENTED).assets_def  # the view runs after the decisions
    firmographics = dg.AssetKey(["staging", "stg_raw__firmographics"])
    assert FIRMOGRAPHICS in graph.get(firmographics).parent_keys
    assert firmographics in graph.get(dg.AssetKey(["intermediate", "int_accounts_enriched"])).parent_keys
    assert SEGMENTED in graph.get(SEGMENTATION_ACCURACY).parent_keys
    assert graph.get(SCORED).assets_def is not graph.get(SEGMENTED).assets_def  # two dbt steps
