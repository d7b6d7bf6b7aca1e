"""The cycle's summary: what the data says after the cycle, read back from the warehouse."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb

from dagster_project.lib import warehouse


def _pairs(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> dict[str, int]:
    return {str(k): int(v) for k, v in con.execute(sql, params or []).fetchall()}


def cycle_summary(con: duckdb.DuckDBPyConnection, as_of: datetime, load_ids: list[int] | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {"as_of": as_of.isoformat()}
    if load_ids is not None:
        row = con.execute(
            """
            select count(*), coalesce(sum(messages_loaded), 0), coalesce(sum(duplicates), 0),
                   coalesce(sum(quarantined), 0)
            from raw.loaded_files where load_id in (select unnest(?::bigint[]))
            """,
            [load_ids],
        ).fetchone()
        summary["landing"] = {
            "files": int(row[0]), "messages": int(row[1]), "duplicates": int(row[2]), "quarantined": int(row[3]),
        }
        summary["landing"]["unattributed"] = 0
        # (A view over the landed history: with no new file there is nothing to count, and nothing to run.)
        if load_ids and warehouse.table_exists(con, "intermediate", "int_events_unattributed"):
            # Tracks and pages of this cycle's files that belong to no account (kept in raw, never sent).
            # The load ids as literals: DuckDB pushes a constant list into the view's scan of raw (0.1 s
            # at 10M messages), not a list bound as a parameter (1.0 s: the whole history read).
            literals = ", ".join(str(int(load_id)) for load_id in load_ids)
            summary["landing"]["unattributed"] = int(con.execute(
                f"select count(*) from intermediate.int_events_unattributed where load_id in ({literals})"
            ).fetchone()[0])
    if not warehouse.table_exists(con, "marts", "customer_onboarding_state"):
        return summary
    state = "marts.customer_onboarding_state"
    summary["accounts"] = warehouse.count(con, state)
    summary["by_track"] = _pairs(con, f"select track, count(*) from {state} group by 1 order by 2 desc")
    summary["by_stage"] = _pairs(con, f"select lifecycle_stage, count(*) from {state} group by 1 order by 2 desc")
    eligible, activated = con.execute(
        f"""
        select count(*), count(*) filter (where activated_at <= signup_at + interval 14 day)
        from {state} where signup_at + interval 14 day <= as_of
        """
    ).fetchone()
    summary["eligible_14d"] = int(eligible)
    summary["activation_rate_14d"] = (activated / eligible) if eligible else None
    if warehouse.table_exists(con, "marts", "onboarding_triggers"):
        # The trigger history is append-only: what this cycle emitted is what it added since the last
        # summary (a re-run of the same clock adds nothing, and says so).
        totals = _pairs(con, "select kind, count(*) from marts.onboarding_triggers group by 1 order by 2 desc")
        before = _previous_totals(con)
        summary["trigger_totals"] = totals
        summary["triggers_emitted"] = {
            kind: n - before.get(kind, 0) for kind, n in totals.items() if n - before.get(kind, 0) > 0
        }
        summary["decisions"] = _decisions(con, as_of)
    return summary


def _decisions(con: duckdb.DuckDBPyConnection, as_of: datetime) -> dict[str, Any]:
    """What this cycle decided (marts.onboarding_triggers rows decided at its clock): whether it adopted
    the history (go-live or after a gap) and, per reason, how many triggers were sent or held."""
    columns = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'onboarding_triggers'").fetchall()}
    if "decision_reason" not in columns:
        return {}
    reasons = _pairs(
        con,
        "select decision_reason, count(*) from marts.onboarding_triggers where decided_as_of = ? "
        "group by 1 order by 2 desc",
        [as_of],
    )
    adopted = None
    if warehouse.table_exists(con, "intermediate", "int_journey_cycles"):
        row = con.execute("select is_adoption from intermediate.int_journey_cycles where as_of = ?", [as_of]).fetchone()
        adopted = bool(row[0]) if row else None
    return {
        "adopted_history": adopted,
        "sent": reasons.get("current_state", 0) + reasons.get("lifecycle", 0),
        "sent_nudges": reasons.get("current_state", 0),
        "by_reason": reasons,
    }


def _previous_totals(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = con.execute(
        "select summary from ops.run_log where status = 'success' order by finished_at desc limit 1"
    ).fetchone()
    if not row or not row[0]:
        return {}
    return {str(k): int(v) for k, v in json.loads(row[0]).get("trigger_totals", {}).items()}
