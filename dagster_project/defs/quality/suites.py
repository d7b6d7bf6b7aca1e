"""Load the tracking plan (`expectations/*.json`) as GX suites, plus what the frame builder needs to know.

The suites are files a data engineer edits in review, so everything specific to an event lives there:
which message kind a suite applies to (`meta.message_type`, `meta.event`), where its properties are
(`meta.properties_root`), and which columns its expectations name (the frame builds only those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.lib import config

BASE_COLUMNS = ("message_id", "user_id", "account_id", "future_skew_seconds", "seconds_before_account_signup")
DERIVED_SUFFIXES = ("__type", "__number")
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class SuiteSpec:
    """One suite file: the raw JSON (handed to GX) and the routing facts read from its meta."""

    name: str
    message_type: str
    event: str | None
    properties_root: str
    description: str
    raw: dict
    properties: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """The event key shared with drift detection: `track:<event>`, `identify`, `group`."""
        return event_key(self.message_type, self.event)


def event_key(message_type: str, event: str | None) -> str:
    return f"track:{event}" if message_type == "track" else message_type


def expectations_dir() -> Path:
    return config.project_root() / "expectations"


def _property_of(column: str) -> str | None:
    if column in BASE_COLUMNS:
        return None
    for suffix in DERIVED_SUFFIXES:
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


def parse_suite(raw: dict, source: str = "<suite>") -> SuiteSpec:
    """Validate the parts of a suite file this package relies on; fail with the file named."""
    meta = raw.get("meta") or {}
    name = raw.get("name")
    message_type = meta.get("message_type")
    if not name or message_type not in ("track", "identify", "group"):
        raise ValueError(f"{source}: a suite needs a name and meta.message_type track|identify|group")
    if message_type == "track" and not meta.get("event"):
        raise ValueError(f"{source}: a track suite needs meta.event")
    props: list[str] = []
    for index, exp in enumerate(raw.get("expectations", [])):
        severity = exp.get("severity", "critical")
        if severity not in SEVERITIES:
            raise ValueError(f"{source}: expectation {index} has severity {severity!r}, expected one of {SEVERITIES}")
        column = (exp.get("kwargs") or {}).get("column")
        if not column:
            raise ValueError(f"{source}: expectation {index} ({exp.get('type')}) names no column")
        prop = _property_of(column)
        if prop and prop not in props:
            props.append(prop)
    return SuiteSpec(
        name=name,
        message_type=message_type,
        event=meta.get("event"),
        properties_root=meta.get("properties_root", "properties" if message_type == "track" else "traits"),
        description=meta.get("description", ""),
        raw=raw,
        properties=tuple(props),
    )


def suite_names(directory: Path | None = None) -> list[str]:
    """The suites' names, sorted, from the file names alone: what the check specs need when the code
    location loads (listing the folder, reading no file; `load_suites` holds each name to its file's)."""
    return sorted(p.stem for p in (directory or expectations_dir()).glob("*.json"))


def load_suites(directory: Path | None = None) -> list[SuiteSpec]:
    """Every `*.json` suite under `expectations/`, sorted by name (a suite is named as its file)."""
    folder = directory or expectations_dir()
    paths = sorted(folder.glob("*.json"))
    specs = [parse_suite(json.loads(p.read_text()), str(p)) for p in paths]
    misnamed = [f"{p} is named {s.name!r}" for p, s in zip(paths, specs, strict=True) if p.stem != s.name]
    if misnamed and directory is None:  # the project's suites name the Dagster checks by file name
        raise ValueError("a suite must be named as its file: " + "; ".join(misnamed))
    keys = [s.key for s in specs]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise ValueError(f"more than one suite for {sorted(duplicated)} in {folder}")
    return sorted(specs, key=lambda s: s.name)
