"""What changed since the last delivery to HubSpot: three diffs against ops.sync_snapshot.

Run in DuckDB (a hash per row, an anti-join on the snapshot), so 100k unchanged accounts cost
one scan; only changed rows come back to Python, with the properties last delivered, so the
operation carries only the properties that changed.
- companies: one per account (`company:<account_id>`), every company column of marts.crm_accounts;
- contacts: one per primary contact (`contact:<person_id>`, the latest signup speaks when a person
  signed up two accounts, as in Customer.io), only with a usable e-mail (the contact's identity);
- associations: company <-> primary contact (`association:<account_id>`), when the account's
  primary contact is new or changed (the snapshot holds whom it was last associated with).
"""

from __future__ import annotations

import pyarrow as pa

from reverse_etl import columns as python_columns
from reverse_etl.gate import table_exists

CHANNEL = "hubspot"
MART = "marts.crm_accounts"
COMPANY_COLUMNS = (
    "account_id", "company_name", "domain", "track", "lifecycle_stage", "activated_at", "csm_owner",
    "current_step", "recovery_attempts", "signup_at", "plan_tier",
)
CONTACT_COLUMNS = (
    "person_id", "account_id", "email", "first_name", "last_name", "job_title", "track", "lifecycle_stage",
    "activated_at", "csm_owner", "current_step", "recovery_attempts", "signup_at", "plan_tier",
)


def _hash(columns: tuple[str, ...]) -> str:
    fields = ", ".join(f"{c} := m.{c}" for c in columns)
    return f"md5(to_json(struct_pack({fields}))::varchar)"


def _changed(con, sql: str) -> pa.Table:
    return con.sql(sql, params=[CHANNEL]).to_arrow_table()


def _changed_delivered(con, source: str, key: str, prefix: str) -> pa.Table:
    """Rows of `source` (a query with `key` and `_row_hash`) whose hash differs from the snapshot of
    `prefix:<key>`, each with the payload last delivered (`_delivered`), ordered by `key`.

    The anti-join reads the snapshot's keys and hashes only; the delivered payloads, the snapshot's wide
    column, are then read for the changed keys alone: carried through the anti-join, every snapshot payload
    (~380k JSON values at 100k accounts) was decoded each run to keep the few that changed."""
    changed = con.sql(
        f"""
        with source as ({source})
        select h.* from source h
        left join (select entity_key, row_hash from ops.sync_snapshot where channel = ?) s
          on s.entity_key = '{prefix}:' || h.{key}
        where s.row_hash is distinct from h._row_hash
        order by h.{key}
        """,
        params=[CHANNEL],
    ).to_arrow_table()
    keys = [f"{prefix}:{k}" for k in changed.column(key).to_pylist()]
    delivered: dict[str, str] = {}
    if keys:
        delivered = dict(con.execute(
            "select entity_key, payload::varchar from ops.sync_snapshot where channel = ? and entity_key = any(?)",
            [CHANNEL, keys],
        ).fetchall())
    return changed.append_column(
        "_delivered", python_columns.table(con, {"_delivered": ("varchar", [delivered.get(k) for k in keys])}).column(0)
    )


def _changed_rows(con, mart: str, columns: tuple[str, ...], key: str, prefix: str) -> pa.Table | None:
    """Rows of a mart whose columns differ from the last delivery of `prefix:<key>` (one hash, one anti-join)."""
    schema, table = mart.split(".")
    if not table_exists(con, schema, table):
        return None
    selected = ", ".join(f"m.{c}" for c in columns)
    return _changed_delivered(
        con,
        f"select {selected}, {_hash(columns)} as _row_hash from {mart} m where m.{key} is not null",
        key,
        prefix,
    )


def changed_companies(con) -> pa.Table | None:
    """Accounts whose company columns differ from the last delivery (with `_row_hash`, `_delivered`)."""
    return _changed_rows(con, MART, COMPANY_COLUMNS, "account_id", "company")


def changed_contacts(con) -> pa.Table | None:
    """Primary contacts whose columns differ from the last delivery."""
    if not table_exists(con, "marts", "crm_accounts"):
        return None
    columns = ", ".join(f"m.{c}" for c in CONTACT_COLUMNS)
    return _changed_delivered(
        con,
        f"""
        select {columns}, {_hash(CONTACT_COLUMNS)} as _row_hash from {MART} m
        where m.person_id is not null and m.email is not null
        qualify row_number() over (partition by m.person_id order by m.signup_at desc, m.account_id) = 1
        """,
        "person_id",
        "contact",
    )


def changed_associations(con) -> pa.Table | None:
    """Accounts whose primary contact was never associated with their company (or changed)."""
    if not table_exists(con, "marts", "crm_accounts"):
        return None
    return _changed(
        con,
        f"""
        select m.account_id, m.person_id, md5(m.person_id) as _row_hash from {MART} m
        left join ops.sync_snapshot s on s.channel = ? and s.entity_key = 'association:' || m.account_id
        where m.account_id is not null and m.person_id is not null and m.email is not null
          and s.row_hash is distinct from md5(m.person_id)
        order by m.account_id
        """,
    )


TASKS_MART = "marts.crm_plan_tasks"
TASK_COLUMNS = ("task_id", "account_id", "subject", "body", "due_at", "task_status", "task_priority")
# The kickoff briefing the Slack sync drafted (Claude or template) for a booked kickoff: one per account.
BRIEFINGS = """
    select account_id, any_value(subject) as subject, any_value(body) as body, any_value(source) as source,
           min(created_as_of) as created_as_of
    from ops.slack_recovery_drafts where kind = 'kickoff_booked' group by account_id
"""


def changed_tasks(con) -> pa.Table | None:
    """Plan tasks new or changed (status, due date, text) since the last delivery."""
    return _changed_rows(con, TASKS_MART, TASK_COLUMNS, "task_id", "task")


def changed_notes(con) -> pa.Table | None:
    """Kickoff briefings not yet filed as a note (or redrafted)."""
    if not table_exists(con, "ops", "slack_recovery_drafts"):
        return None
    return _changed_delivered(
        con,
        f"""
        select b.*, md5(coalesce(b.subject, '') || '|' || coalesce(b.body, '')) as _row_hash
        from ({BRIEFINGS}) b
        """,
        "account_id",
        "note",
    )


def changed_links(con, kind: str) -> pa.Table | None:
    """Tasks (kind 'task_link') or notes ('note_link') never associated with their account's company."""
    if kind == "task_link":
        if not table_exists(con, "marts", "crm_plan_tasks"):
            return None
        source = f"select task_id as key, account_id from {TASKS_MART} where task_id is not null"
    else:
        if not table_exists(con, "ops", "slack_recovery_drafts"):
            return None
        source = f"select account_id as key, account_id from ({BRIEFINGS})"
    return _changed(
        con,
        f"""
        with linked as ({source})
        select l.key, l.account_id, md5(l.account_id) as _row_hash from linked l
        left join ops.sync_snapshot s on s.channel = ? and s.entity_key = '{kind}:' || l.key
        where s.row_hash is distinct from md5(l.account_id)
        order by l.key
        """,
    )
