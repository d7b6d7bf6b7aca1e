"""Landing: new event files -> raw (ledger, messages, quarantine), once per file, once per message."""

import dagster as dg

from dagster_project.defs.landing import load as landing
from dagster_project.defs.landing.resources import LandingResource
from dagster_project.lib.clock import as_of_for
from dagster_project.lib.resources import WarehouseResource
from dagster_project.lib.warehouse import count as warehouse_count

MESSAGES = dg.AssetKey(["raw", "segment_messages"])
LEDGER = dg.AssetKey(["raw", "loaded_files"])
QUARANTINE = dg.AssetKey(["raw", "quarantine"])

@dg.multi_asset(
    specs=[
        dg.AssetSpec(MESSAGES, group_name="landing", kinds={"duckdb"},
                     description="Landed Segment-spec messages, deduplicated by messageId, payload untouched."),
        dg.AssetSpec(LEDGER, group_name="landing", kinds={"duckdb"},
                     description="One row per landing file loaded, with its line counts."),
        dg.AssetSpec(QUARANTINE, group_name="landing", kinds={"duckdb"},
                     description="Lines that could not be loaded, with the reason and the file."),
    ],
)
def landed_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing_dir: LandingResource
):
    as_of = as_of_for(context)
    directory = landing_dir.resolved_path()
    with warehouse.connect() as con:
        result = landing.load_landing(directory, con)
        # A plain count is DuckDB metadata; a distinct count would rescan the whole history every hour.
        total_messages = warehouse_count(con, "raw.segment_messages")
        quarantine_total = con.execute("select count(*) from raw.quarantine").fetchone()[0]
        reasons = con.execute(
            """
            select reason, count(*) from raw.quarantine
            where load_id in (select unnest(?::bigint[])) group by reason order by 2 desc
            """,
            [[f.load_id for f in result.files]],
        ).fetchall()
    # One line per landing, however many files (a persistent instance pays per event).
    context.log.info(f"as of {as_of:%Y-%m-%d %H:%M}Z, {directory}: {result.describe()}")
    for path, reason in result.unreadable:
        context.log.warning(f"unreadable landing file {path} (not recorded; retried next cycle): {reason}")
    load_ids = [f.load_id for f in result.files]
    yield dg.MaterializeResult(
        asset_key=MESSAGES,
        metadata={
            "new_files": len(result.files),
            "messages_loaded": result.messages_loaded,
            "duplicates": result.duplicates,
            "dagster/row_count": total_messages,
            "load_ids": dg.MetadataValue.json(load_ids),
        },
    )
    yield dg.MaterializeResult(
        asset_key=LEDGER,
        metadata={
            "files_loaded_this_run": dg.MetadataValue.md(
                "\n".join(
                    f"- `{f.path}`: {f.messages_loaded} loaded, {f.duplicates} duplicates, {f.quarantined} quarantined"
                    for f in result.files[:50]
                ) or "none"
            ),
            "skipped_files": result.skipped_files,
            "unreadable_files": dg.MetadataValue.json(dict(result.unreadable)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "quarantined_this_run": result.quarantined,
            "dagster/row_count": int(quarantine_total),
            "reasons_this_run": dg.MetadataValue.json({r: int(n) for r, n in reasons}),
        },
    )
