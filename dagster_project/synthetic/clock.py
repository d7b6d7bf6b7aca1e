"""Time as integer Unix milliseconds, and its fast ISO-8601 rendering.

The generator formats two timestamps per message (100M+ messages at full scale), so it avoids
`datetime` objects in the hot path: a day's date string is computed once and cached.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


@lru_cache(maxsize=4096)
def _day_text(epoch_day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=epoch_day)).strftime("%Y-%m-%d")


_MINUTE_PREFIX: dict[int, str] = {}
_SECOND_MS = [f"{n // 1000:02d}.{n % 1000:03d}Z" for n in range(60_000)]


def iso_ms(ms: int) -> str:
    """`2026-11-01T09:15:02.123Z` for Unix milliseconds (Segment's own timestamp shape)."""
    minute, rest = divmod(ms, MS_PER_MINUTE)
    prefix = _MINUTE_PREFIX.get(minute)
    if prefix is None:
        day, minute_of_day = divmod(minute, 1440)
        prefix = f"{_day_text(day)}T{minute_of_day // 60:02d}:{minute_of_day % 60:02d}:"
        if len(_MINUTE_PREFIX) > 200_000:
            _MINUTE_PREFIX.clear()
        _MINUTE_PREFIX[minute] = prefix
    return prefix + _SECOND_MS[rest]


def hour_path(hour_index: int) -> tuple[str, str]:
    """(YYYY-MM-DD folder, HH) of the landing hour `hour_index` = Unix ms // MS_PER_HOUR."""
    day, hour = divmod(hour_index, 24)
    return _day_text(day), f"{hour:02d}"


def parse_start(start: str | datetime | None, days: int) -> int:
    """Day 0 as Unix ms: the given ISO time, or today 00:00 UTC minus `days` days."""
    if start is None or start == "":
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        moment = today - timedelta(days=days)
    elif isinstance(start, datetime):
        moment = start if start.tzinfo else start.replace(tzinfo=UTC)
    else:
        text = start.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"--start is not an ISO-8601 time: {start!r}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return int(moment.astimezone(UTC).timestamp() * 1000)


def weekday(ms: int) -> int:
    """Monday = 0, as datetime.weekday()."""
    return (ms // MS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday
