"""New files mean a data-quality pass with rows to validate: the landing step starts Great Expectations'
import (validate.preload) as soon as it knows of them, beside the load; an hour without a new file
starts nothing (an idle cycle never imports GX)."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.landing.assets import landed_events
from dagster_project.defs.landing.resources import LandingResource
from dagster_project.defs.quality import validate
from dagster_project.lib.clock import AS_OF_TAG
from dagster_project.lib.resources import WarehouseResource
from tests.quality import dq_events as ev


def test_new_files_start_the_gx_import_and_an_idle_landing_does_not(tmp_path, monkeypatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr(validate, "preload", lambda: started.append(True) or True)
    resources = {"warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
                 "landing_dir": LandingResource(path=str(tmp_path / "landing"))}

    def land() -> dg.ExecuteInProcessResult:
        return dg.materialize([landed_events], resources=resources, tags={AS_OF_TAG: "2026-10-02T00:00:00Z"})

    ev.write_jsonl(tmp_path / "landing" / "day0.jsonl", ev.day_messages(0, per_day=3))
    assert land().success and started == [True]
    assert land().success and started == [True]  # nothing new: no import started
    ev.write_jsonl(tmp_path / "landing" / "day1.jsonl", ev.day_messages(1, per_day=3))
    assert land().success and started == [True, True]
