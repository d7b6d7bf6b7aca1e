"""The `ops` schema: every table's DDL, declared here and nowhere else.

`ops` holds what the pipeline itself writes: the outbox and the sync log of every channel, Slack's and
HubSpot's state, the send gate, the segmentation decisions and audit, the data-quality pass's state and
the run log. Each statement is idempotent and columns are only ever added. Each owner still creates its
tables just before first use (`ensure(con, ops_tables.OUTBOX)`), so any entry point works on an empty
warehouse, but what a table looks like is read here. It lives in this library, the lowest layer, so
that both the library and the Dagster code location (which imports it, never the reverse) use one
declaration; dbt reads the ones it needs as sources.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

# One row of the sync log (synclog.CHANGE_COLUMNS): ops.sync_changelog, and ops.sync_journal, which adds the
# snapshot a delivered operation leaves (journal.py folds one into the other).
_CHANGE_COLUMNS = """\
        run_id varchar not null,
        channel varchar not null,
        item_id varchar not null,
        account_id varchar,
        entity_key varchar,
        operation varchar not null,
        event_name varchar,
        event_id varchar,
        result varchar not null,
        error varchar,
        attempt integer,
        recorded_at timestamptz not null"""

# the outbox every channel delivers from (outbox.py)
OUTBOX: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.outbox (
        channel varchar not null,
        item_id varchar not null,
        account_id varchar,
        kind varchar not null,
        priority integer not null default 0,
        payload json not null,
        payload_hash varchar not null,
        status varchar not null,
        attempts integer not null default 0,
        last_error varchar,
        enqueued_at timestamptz not null,
        updated_at timestamptz not null,
        sent_at timestamptz,
        last_run_id varchar,
        primary key (channel, item_id)
    )
    """,
)

# what each sync sent, when, with what result (synclog.py); answers not yet folded in (journal.py)
SYNC_LOG: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.sync_snapshot (
        channel varchar not null,
        entity_key varchar not null,
        account_id varchar,
        row_hash varchar not null,
        payload json,
        synced_at timestamptz not null,
        run_id varchar,
        primary key (channel, entity_key)
    )
    """,
    f"""
    create table if not exists ops.sync_changelog (
{_CHANGE_COLUMNS}
    )
    """,
    f"""
    create table if not exists ops.sync_journal (
{_CHANGE_COLUMNS},
        snapshot_key varchar,
        row_hash varchar,
        snapshot json
    )
    """,
    """
    create table if not exists ops.sync_runs (
        run_id varchar not null,
        channel varchar not null,
        as_of timestamptz,
        started_at timestamptz not null,
        finished_at timestamptz,
        status varchar not null,
        mode varchar,
        planned_changes bigint,
        sent bigint,
        failed bigint,
        parked bigint,
        invalid bigint,
        skipped_gate bigint,
        requests bigint,
        retries bigint,
        rate_limited bigint,
        bytes_sent bigint,
        diff_seconds double,
        duration_seconds double,
        error varchar,
        summary json
    )
    """,
)

# what Slack was told: alerts, digests, drafts, runs, posts (slack/state.py)
SLACK: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.slack_alerts (
        alert_id varchar primary key,
        account_id varchar not null,
        kind varchar not null,
        priority varchar not null,
        route varchar not null,
        alert_rank integer,
        risk_score double,
        first_seen_as_of timestamptz not null,
        status varchar not null,
        digest_date date,
        outbox_item_id varchar,
        context json
    )
    """,
    """
    create table if not exists ops.slack_digests (
        digest_date date primary key,
        as_of timestamptz not null,
        item_id varchar,
        channel varchar not null,
        alerts_total integer not null,
        alerts_shown integer not null,
        alerts_summarised integer not null,
        realtime_since integer not null,
        created_at timestamptz not null
    )
    """,
    """
    create table if not exists ops.slack_recovery_drafts (
        alert_id varchar primary key,
        account_id varchar not null,
        kind varchar not null,
        stall_step varchar,
        source varchar not null,
        model varchar,
        subject varchar not null,
        body varchar not null,
        error varchar,
        created_as_of timestamptz not null
    )
    """,
    """
    create table if not exists ops.slack_runs (
        run_id varchar,
        as_of timestamptz not null,
        started_at timestamptz not null,
        alerts_current integer not null,
        alerts_new integer not null,
        realtime_queued integer not null,
        digest_date date,
        digest_alerts integer,
        gated integer not null,
        posted integer not null,
        failed integer not null,
        written_local integer not null,
        parked integer not null,
        summary json
    )
    """,
    """
    create table if not exists ops.slack_posts (
        item_id varchar primary key,
        channel varchar not null,
        channel_id varchar,
        attempt_started_at timestamptz,
        ts varchar,
        confirmed_by varchar,
        confirmed_at timestamptz
    )
    """,
)

# HubSpot record ids per account, contact, task and note (hubspot/sync.py)
HUBSPOT_OBJECTS: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.hubspot_objects (
        object_type varchar not null,   -- 'company' (key: account_id) | 'contact' (person_id) | 'task' | 'note'
        key varchar not null,
        hubspot_id varchar not null,
        matched_by varchar,             -- 'onboarding_account_id' | 'domain' | 'email'
        updated_at timestamptz not null,
        primary key (object_type, key)
    )
    """,
)

# the data-quality pass: watermarks, statuses, alerts, results, profiles (dagster_project/defs/quality/store.py)
QUALITY: tuple[str, ...] = (
    """
    create table if not exists ops.quality_load_watermarks (
        load_id bigint primary key,
        validated_through timestamptz not null
    )
    """,
    """
    create table if not exists ops.quality_check_status (
        check_name varchar primary key,
        status varchar not null,
        since timestamptz not null,
        last_as_of timestamptz not null,
        summary varchar
    )
    """,
    """
    create table if not exists ops.quality_alerts (
        alert_id varchar primary key,
        check_name varchar not null,
        as_of timestamptz not null,
        previous_status varchar not null,
        status varchar not null,
        channel varchar not null,
        title varchar not null,
        lines json not null,
        text varchar not null,
        created_at timestamptz not null,
        delivered_at timestamptz,
        delivery varchar
    )
    """,
    """
    create table if not exists ops.quality_results (
        as_of timestamptz not null,
        check_name varchar not null,
        finding varchar not null,
        severity varchar not null,
        passed boolean not null,
        element_count bigint,
        unexpected_count bigint,
        unexpected_percent double,
        detail json
    )
    """,
    """
    create table if not exists ops.quality_profiles (
        arrived_hour timestamptz not null,
        event_key varchar not null,
        property varchar not null,
        json_type varchar not null,
        rows bigint not null,
        good boolean not null,
        as_of timestamptz not null
    )
    """,
    # what a pass needs from the history, kept by the passes (dagster_project/defs/quality/history.py)
    """
    create table if not exists ops.quality_history (
        type varchar not null,
        user_id varchar,
        group_id varchar,
        event_at timestamptz,
        arrived_at timestamptz
    )
    """,
    """
    create table if not exists ops.quality_first_seen (
        user_id varchar not null,
        group_id varchar not null,
        event_at timestamptz not null
    )
    """,
    """
    create table if not exists ops.quality_history_state (
        rule varchar not null,
        through timestamptz
    )
    """,
)

# segmentation runs and model calls (dagster_project/defs/segmentation/store.py)
SEGMENTATION_RUNS: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.segmentation_runs (
        run_id varchar not null,
        as_of timestamptz not null,
        started_at timestamptz not null,
        finished_at timestamptz not null,
        mode varchar not null,            -- 'llm' | 'rules' (no key) | 'auth_failed'
        model varchar,
        prompt_version varchar,
        accounts_scored bigint not null,
        pending bigint not null,
        asked bigint not null,
        deferred bigint not null,         -- pending beyond the per-run cap: the rules decide meanwhile
        decided_llm bigint not null,
        fallback_low_confidence bigint not null,
        fallback_error bigint not null,
        attempts bigint not null,
        retries bigint not null,
        requests bigint not null,
        input_tokens bigint not null,
        output_tokens bigint not null,
        cache_creation_input_tokens bigint not null,
        cache_read_input_tokens bigint not null,
        cost_usd double not null,
        price_source varchar,
        note varchar
    )
    """,
    """
    create table if not exists ops.segmentation_calls (
        run_id varchar not null,
        account_id varchar not null,
        input_hash varchar not null,
        model_track varchar,
        confidence double,
        track varchar not null,
        track_source varchar not null,
        error varchar,
        attempts integer not null,
        waits_seconds double[],
        input_tokens bigint not null,
        output_tokens bigint not null,
        cache_creation_input_tokens bigint not null,
        cache_read_input_tokens bigint not null,
        latency_ms bigint not null,
        as_of timestamptz not null
    )
    """,
)

# the monthly segmentation audit (dagster_project/defs/segmentation/audit.py)
SEGMENTATION_AUDIT: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.segmentation_audit_samples (
        audit_month varchar not null,
        account_id varchar not null,
        assigned_track varchar not null,
        track_source varchar not null,
        sampled_as_of timestamptz not null,
        file varchar not null
    )
    """,
    """
    create table if not exists ops.segmentation_audit_labels (
        audit_month varchar not null,
        account_id varchar not null,
        human_label varchar not null,
        labelled_by varchar,
        file varchar not null,
        loaded_as_of timestamptz not null
    )
    """,
    """
    create table if not exists ops.segmentation_accuracy (
        audit_month varchar not null,
        track varchar not null,          -- a true track (human label), or 'all'
        labelled bigint not null,
        correct bigint not null,
        accuracy double,
        computed_as_of timestamptz not null
    )
    """,
    """
    create table if not exists ops.segmentation_alerts (
        audit_month varchar not null,
        accuracy double not null,
        threshold double not null,
        labelled bigint not null,
        message varchar not null,
        raised_as_of timestamptz not null
    )
    """,
)

# the track decided for each account (defs/segmentation), read by dbt
ACCOUNT_SEGMENTATION: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.account_segmentation (
        account_id varchar not null,
        input_hash varchar not null,
        track varchar not null,
        track_source varchar not null,
        confidence double,
        reason varchar,
        model varchar,
        decided_at timestamptz not null
    )
    """,
)

# accounts whose sends are held while a data-quality check fails (defs/quality; gate.py reads it)
SEND_GATE: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.send_gate (
        account_id varchar not null,
        check_name varchar not null,
        reason varchar not null,
        blocked_since timestamptz not null
    )
    """,
)

# one row per cycle with its summary (defs/summary)
RUN_LOG: tuple[str, ...] = (
    "create schema if not exists ops",
    """
    create table if not exists ops.run_log (
        run_id varchar not null,
        as_of timestamptz not null,
        started_at timestamptz not null,
        finished_at timestamptz,
        status varchar not null,
        full_refresh boolean not null default false,
        summary json
    )
    """,
)


def ensure(con: duckdb.DuckDBPyConnection, *groups: Iterable[str]) -> None:
    """Create the tables of these groups if they do not exist yet (idempotent)."""
    for group in groups:
        for statement in group:
            con.execute(statement)
