"""Drift the suites cannot see, as pure functions over profiles and counts: every finding is a warning.

- schema: new or vanished properties and type changes per event, against the last good week's profiles;
- volume: per-event arrivals in the last 24 h against the same window in earlier weeks (so a quiet
  weekend is not an anomaly), or against the trailing days while less than a week of history exists;
- late arrivals: the share of the batch that reached Segment's server long after its own timestamp;
- duplicate bursts: messageIds the loader had already seen, and the same event re-sent under new ids.

Thresholds are the dataclass defaults below (`min_count` from ONBOARDING_QUALITY_MIN_COUNT); the suites
carry the blocking rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class DriftThresholds:
    min_batch_rows: int = 5
    min_baseline_rows: int = 20
    vanish_share: float = 0.5
    vanish_chance: float = 1e-4
    volume_weeks: int = 4
    volume_min_baseline: float = 20.0
    volume_drop_ratio: float = 0.2
    volume_spike_ratio: float = 1.0
    volume_z: float = 3.0
    late_after: timedelta = timedelta(hours=1)
    late_max_share: float = 0.2
    late_min_rows: int = 20
    duplicate_max_share: float = 0.05
    duplicate_min_rows: int = 5
    # A share threshold trips only on at least this many rows over it (ONBOARDING_QUALITY_MIN_COUNT).
    min_count: int = 3


DEFAULTS = DriftThresholds()


@dataclass
class DriftFinding:
    check: str
    key: str
    kind: str
    message: str
    count: int = 0
    share: float | None = None
    samples: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.key}.{self.kind}"




HourlyProfile = dict[tuple[datetime, str], dict[str, dict[str, int]]]


def _sum_types(into: dict[str, dict[str, int]], props: dict[str, dict[str, int]]) -> None:
    for prop, types in props.items():
        bucket = into.setdefault(prop, {})
        for json_type, n in types.items():
            bucket[json_type] = bucket.get(json_type, 0) + n


def _trailing_absence(hours: list[tuple[datetime, dict[str, dict[str, int]]]], prop: str) -> int:
    """Rows since `prop` was last seen, counting back from the newest hour."""
    run = 0
    for _, props in sorted(hours, key=lambda item: item[0], reverse=True):
        if prop in props:
            break
        run += sum(props.get("", {}).values())
    return run


def schema_drift(
    recent: HourlyProfile,
    baseline: dict[str, dict[str, dict[str, int]]],
    t: DriftThresholds = DEFAULTS,
) -> list[DriftFinding]:
    """New events, new / vanished properties and new JSON types, event by event.

    `recent` is the last 24 h of arrivals by hour; `baseline` the good week before. A property has
    vanished when the rows since it was last seen would be a < 1-in-10,000 chance at last week's rate,
    so it is caught as soon as the evidence is there and stays flagged until it comes back.
    """
    by_key: dict[str, dict[str, dict[str, int]]] = {}
    hours_by_key: dict[str, list[tuple[datetime, dict[str, dict[str, int]]]]] = {}
    for (hour, key), props in recent.items():
        _sum_types(by_key.setdefault(key, {}), props)
        hours_by_key.setdefault(key, []).append((hour, props))
    findings: list[DriftFinding] = []
    baseline_total = sum(sum(p.get("", {}).values()) for p in baseline.values())
    for key in sorted(by_key):
        props = by_key[key]
        rows = sum(props.get("", {}).values())
        base = baseline.get(key)
        if not base:
            if baseline_total >= t.min_baseline_rows:
                findings.append(DriftFinding("schema_drift", key, "new_event", f"{key}: not seen in the last good week", rows))
            continue
        base_rows = sum(base.get("", {}).values())
        if base_rows < t.min_baseline_rows:
            continue
        for prop in sorted(p for p in props if p):
            types = props[prop]
            if prop not in base:
                findings.append(
                    DriftFinding("schema_drift", key, f"new_property:{prop}", f"{key}: new property {prop}", sum(types.values()))
                )
                continue
            for json_type in sorted(set(types) - set(base[prop])):
                findings.append(
                    DriftFinding(
                        "schema_drift", key, f"type_change:{prop}",
                        f"{key}: {prop} arrived as {json_type} (last good week: {', '.join(sorted(base[prop]))})",
                        types[json_type],
                    )
                )
        for prop in sorted(p for p in base if p):
            present = min(sum(base[prop].values()) / base_rows, 1.0)
            absent_run = _trailing_absence(hours_by_key[key], prop)
            if present < t.vanish_share or absent_run < t.min_batch_rows:
                continue
            if (1 - present) ** absent_run < t.vanish_chance:
                findings.append(
                    DriftFinding(
                        "schema_drift", key, f"vanished_property:{prop}",
                        f"{key}: {prop} missing from the last {absent_run} rows (on {present:.0%} last good week)",
                        absent_run,
                    )
                )
    return findings


def volume_anomalies(
    series: dict[str, list[int]],
    first_arrival: datetime | None,
    as_of: datetime,
    t: DriftThresholds = DEFAULTS,
    keys: set[str] | None = None,
) -> list[DriftFinding]:
    """Per event: last 24 h against a baseline of earlier windows that lie wholly inside the history.

    `keys` limits it to the events of the tracking plan: a product's other events grow with its
    customer base, and alerting on them would be noise nobody acts on.
    """
    if first_arrival is None:
        return []
    findings = []

    def usable(day: int) -> bool:
        return as_of - timedelta(days=day + 1) >= first_arrival - timedelta(hours=1)

    if not usable(0):
        return []
    weekly = [7 * w for w in range(1, t.volume_weeks + 1) if usable(7 * w)]
    days = weekly or [d for d in range(1, 7) if usable(d)]
    if len(days) < (1 if weekly else 3):
        return []
    for key in sorted(series):
        if keys is not None and key not in keys:
            continue
        counts = series[key]
        baseline_values = [counts[d] if d < len(counts) else 0 for d in days]
        mean = sum(baseline_values) / len(baseline_values)
        if mean < t.volume_min_baseline:
            continue
        current = counts[0]
        z = (current - mean) / math.sqrt(mean)
        basis = "same window in earlier weeks" if weekly else "trailing days"
        if current < mean * (1 - t.volume_drop_ratio) and z <= -t.volume_z:
            findings.append(
                DriftFinding(
                    "volume_anomaly", key, "drop",
                    f"{key}: {current} in the last 24 h vs {mean:.0f} expected ({basis}), {current / mean - 1:+.0%}",
                    current, share=current / mean - 1,
                )
            )
        elif current > mean * (1 + t.volume_spike_ratio) and z >= t.volume_z:
            findings.append(
                DriftFinding(
                    "volume_anomaly", key, "spike",
                    f"{key}: {current} in the last 24 h vs {mean:.0f} expected ({basis}), {current / mean - 1:+.0%}",
                    current, share=current / mean - 1,
                )
            )
    return findings


def late_findings(total: int, late: int, samples: list[str], t: DriftThresholds = DEFAULTS) -> list[DriftFinding]:
    """The late-arrival verdict from counts (a batch validated in chunks sums them)."""
    share = late / total if total else 0.0
    if total < t.late_min_rows or late < t.min_count or share <= t.late_max_share:
        return []
    hours = t.late_after.total_seconds() / 3600
    return [
        DriftFinding(
            "late_arrivals", "all", "late_share",
            f"{late} of {total} new messages ({share:.0%}) reached the server over {hours:g} h after their timestamp",
            late, share=share, samples=samples[:10],
        )
    ]


def duplicate_findings(
    lines_read: int, loader_duplicates: int, total: int, repeats: int, samples: list[str],
    t: DriftThresholds = DEFAULTS,
) -> list[DriftFinding]:
    """The duplicate verdict from counts: `repeats` of `total` comparable messages repeated an earlier one."""
    findings = []
    if (lines_read >= t.duplicate_min_rows and loader_duplicates >= t.min_count
            and loader_duplicates / lines_read > t.duplicate_max_share):
        share = loader_duplicates / lines_read
        findings.append(
            DriftFinding(
                "duplicate_burst", "all", "repeated_message_id",
                f"{loader_duplicates} of {lines_read} newly landed lines ({share:.0%}) repeated a messageId already loaded "
                "(dropped by the loader)",
                loader_duplicates, share=share,
            )
        )
    if total >= t.duplicate_min_rows and repeats >= max(t.min_count, 1) and repeats / total > t.duplicate_max_share:
        share = repeats / total
        findings.append(
            DriftFinding(
                "duplicate_burst", "all", "same_event_new_id",
                f"{repeats} of {total} new messages ({share:.0%}) repeat an event already in the batch under a new messageId",
                repeats, share=share, samples=samples[:10],
            )
        )
    return findings
