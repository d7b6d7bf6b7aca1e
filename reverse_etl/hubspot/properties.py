"""Pure mapping from a row of marts.crm_accounts to HubSpot company and contact properties.

No I/O: rows in, dicts out, so what HubSpot receives is unit-tested without a server.
- Property values travel as strings, the way HubSpot's CRM v3 API stores and returns them:
  datetimes as ISO 8601 UTC with milliseconds, numbers as decimal text, and "" to clear a value
  that was set before (HubSpot ignores a missing key, so a null must be sent as "").
- Only what changed is sent: `changed()` compares with the properties last delivered (the
  snapshot), so a field the CS team edited in HubSpot is left alone unless the warehouse value moved.
- The custom properties are defined here (PROPERTY_DEFINITIONS) and created by the sync when the
  portal lacks them; `onboarding_account_id` has unique values, which is what lets a company be
  upserted by it (created when no record matches, updated when one does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

ACCOUNT_ID_PROPERTY = "onboarding_account_id"
MAX_VALUE_CHARS = 65_536  # HubSpot's limit for a single-line text property value

# Onboarding properties set on both objects: mart column -> HubSpot property.
ONBOARDING: dict[str, str] = {
    "track": "onboarding_track",
    "lifecycle_stage": "onboarding_lifecycle_stage",
    "activated_at": "onboarding_activated_at",
    "csm_owner": "onboarding_csm_owner",
    "current_step": "onboarding_current_step",
    "recovery_attempts": "onboarding_recovery_attempts",
    "signup_at": "onboarding_signup_at",
    "plan_tier": "onboarding_plan_tier",
}
COMPANY: dict[str, str] = {"company_name": "name", "domain": "domain", "account_id": ACCOUNT_ID_PROPERTY, **ONBOARDING}
CONTACT: dict[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "job_title": "jobtitle",
    "account_id": ACCOUNT_ID_PROPERTY,
    **ONBOARDING,
}
DATETIME_COLUMNS = frozenset({"activated_at", "signup_at"})
NUMBER_COLUMNS = frozenset({"recovery_attempts"})

_LABELS = {
    ACCOUNT_ID_PROPERTY: "Onboarding account id",
    "onboarding_track": "Onboarding track",
    "onboarding_lifecycle_stage": "Onboarding lifecycle stage",
    "onboarding_activated_at": "Activated at",
    "onboarding_csm_owner": "Onboarding CSM owner",
    "onboarding_current_step": "Onboarding current step",
    "onboarding_recovery_attempts": "Onboarding recovery attempts",
    "onboarding_signup_at": "Signed up at",
    "onboarding_plan_tier": "Plan tier",
}
_GROUPS = {"companies": "companyinformation", "contacts": "contactinformation"}


def _definition(object_type: str, name: str) -> dict[str, Any]:
    column = next(c for c, p in ONBOARDING.items() if p == name) if name in ONBOARDING.values() else None
    if column in DATETIME_COLUMNS:
        kind, field_type = "datetime", "date"
    elif column in NUMBER_COLUMNS:
        kind, field_type = "number", "number"
    else:
        kind, field_type = "string", "text"
    definition: dict[str, Any] = {
        "name": name,
        "label": _LABELS[name],
        "type": kind,
        "fieldType": field_type,
        "groupName": _GROUPS[object_type],
        "description": "Written by the onboarding engine (warehouse-native reverse ETL); do not edit by hand.",
    }
    if object_type == "companies" and name == ACCOUNT_ID_PROPERTY:
        definition["hasUniqueValue"] = True  # what makes `idProperty=onboarding_account_id` upserts possible
    return definition


def property_definitions(object_type: str) -> list[dict[str, Any]]:
    """The custom properties the sync writes on `companies` or `contacts` (standard ones excluded)."""
    names = [ACCOUNT_ID_PROPERTY, *ONBOARDING.values()]
    return [_definition(object_type, name) for name in names]


class InvalidRecord(ValueError):
    """A row HubSpot would reject whatever we retry: parked, never sent."""


def hubspot_value(column: str, value: Any) -> str:
    """One warehouse value as HubSpot's string form; None -> "" (clears the property)."""
    kind = type(value)  # the common cases first, exactly as the general rules below would have them
    if kind is str and column not in DATETIME_COLUMNS:
        return value[:MAX_VALUE_CHARS]
    if kind is datetime and column in DATETIME_COLUMNS:
        return _iso_millis(value)
    if value is None:
        return ""
    if isinstance(value, float | Decimal) and (math.isnan(float(value)) or math.isinf(float(value))):
        return ""
    if column in DATETIME_COLUMNS:
        return _iso_millis(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float) and float(value).is_integer():
        return str(int(value))
    text = str(value)
    return text[:MAX_VALUE_CHARS]


def _iso_millis(value: Any) -> str:
    if type(value) is datetime and value.tzinfo is None:
        # A naive timestamp is UTC (how runs.python_rows hands them over): the common case, ~2.5x cheaper
        # than the general path below (a first sync at 100k accounts writes ~330,000).
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = datetime.fromtimestamp(float(value) / 1000 if value >= 1e11 else float(value), UTC)
    elif isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, datetime):
        raise InvalidRecord(f"not a timestamp: {type(value).__name__}")
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _properties(row: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, str]:
    return {prop: hubspot_value(column, row.get(column)) for column, prop in mapping.items() if column in row}


def company_properties(row: Mapping[str, Any]) -> dict[str, str]:
    """Every company property for one account (values as HubSpot stores them)."""
    if not str(row.get("account_id") or "").strip():
        raise InvalidRecord("blank account id")
    props = _properties(row, COMPANY)
    if props.get("domain"):
        props["domain"] = normalise_domain(props["domain"])
    return props


def contact_properties(row: Mapping[str, Any]) -> dict[str, str]:
    """Every contact property for one primary contact; the e-mail is the contact's identity."""
    email = normalise_email(row.get("email"))
    if not email:
        raise InvalidRecord("primary contact without a valid e-mail address")
    props = _properties(row, CONTACT)
    props["email"] = email
    return props


def normalise_email(value: Any) -> str | None:
    """HubSpot matches e-mails case-insensitively and stores them lower case."""
    text = str(value or "").strip().lower()
    local, _, domain = text.partition("@")
    return text if local and "." in domain and " " not in text else None


def normalise_domain(value: str) -> str:
    """`https://www.Example.com/path` -> `example.com`, the form HubSpot keeps in `domain`."""
    text = value.strip().lower().split("://")[-1].split("/")[0]
    return text[4:] if text.startswith("www.") else text


def changed(current: Mapping[str, str], delivered: Mapping[str, Any] | None, always: tuple[str, ...] = ()) -> dict[str, str]:
    """The properties to send: those whose value differs from what was last delivered.

    A property never delivered and empty now is not sent (nothing to clear); `always` keys (the
    record's identity) travel every time, since an upsert needs them.
    """
    before = dict(delivered or {})
    out: dict[str, str] = {}
    for name, value in current.items():
        if name in always or (before.get(name) if name in before else "") != value:
            if value == "" and not before.get(name) and name not in always:
                continue
            out[name] = value
    return out


# -- the 30-day plan's tasks and the kickoff briefing's note ----------------------------------------
# Both are activities HubSpot would happily create twice; a unique custom property on each (the
# warehouse's task id, the account of the briefing) makes them upserts, so a resend updates the one
# record instead of creating a second. Values (subject, due date, status) come from marts.crm_plan_tasks.
TASK_ID_PROPERTY = "onboarding_task_id"
NOTE_ID_PROPERTY = "onboarding_note_id"
ACTIVITY_ID_PROPERTIES = {"tasks": TASK_ID_PROPERTY, "notes": NOTE_ID_PROPERTY}
_ACTIVITY_GROUPS = {"tasks": "taskinformation", "notes": "noteinformation"}
_ACTIVITY_LABELS = {TASK_ID_PROPERTY: "Onboarding task id", NOTE_ID_PROPERTY: "Onboarding note id"}


def activity_definitions(object_type: str) -> list[dict[str, Any]]:
    """The one custom property the sync needs on `tasks` or `notes`: its unique id."""
    name = ACTIVITY_ID_PROPERTIES[object_type]
    return [{
        "name": name,
        "label": _ACTIVITY_LABELS[name],
        "type": "string",
        "fieldType": "text",
        "groupName": _ACTIVITY_GROUPS[object_type],
        "description": "Written by the onboarding engine: what makes its upserts exactly once; do not edit.",
        "hasUniqueValue": True,
    }]


def task_properties(row: Mapping[str, Any]) -> dict[str, str]:
    """One plan milestone as HubSpot task properties (hs_timestamp = the due date)."""
    if not str(row.get("task_id") or "").strip():
        raise InvalidRecord("blank task id")
    if row.get("due_at") is None:
        raise InvalidRecord("task without a due date")
    return {
        TASK_ID_PROPERTY: str(row["task_id"]),
        "hs_task_subject": hubspot_value("subject", row.get("subject"))[:512],
        "hs_task_body": hubspot_value("body", row.get("body")),
        "hs_timestamp": _iso_millis(row["due_at"]),
        "hs_task_status": hubspot_value("task_status", row.get("task_status")),
        "hs_task_priority": hubspot_value("task_priority", row.get("task_priority")),
        "hs_task_type": "TODO",
    }


def note_id(account_id: object) -> str:
    """The kickoff briefing's onboarding_note_id: one briefing note per account."""
    return f"kickoff:{account_id}"


def note_properties(row: Mapping[str, Any]) -> dict[str, str]:
    """The kickoff briefing as a HubSpot note: hs_note_body is HTML, so the text is escaped first."""
    import html

    if not str(row.get("account_id") or "").strip():
        raise InvalidRecord("blank account id")
    title = html.escape(str(row.get("subject") or "Kickoff briefing"))
    body = "<br>".join(html.escape(line) for line in str(row.get("body") or "").splitlines())
    source = "drafted by Claude" if row.get("source") == "llm" else "template"
    return {
        NOTE_ID_PROPERTY: note_id(row["account_id"]),
        "hs_note_body": f"<p><strong>{title}</strong> ({source})</p><p>{body}</p>"[:MAX_VALUE_CHARS],
        "hs_timestamp": _iso_millis(row.get("created_as_of") or datetime.now(UTC)),
    }
