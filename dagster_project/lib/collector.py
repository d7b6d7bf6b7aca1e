"""Python's garbage collector in a process that runs a cycle (or any `onboarding` command) and then ends.

Such a process keeps most of what it loads until it ends: Dagster, dbt, the code location, dbt's
manifest. With Python's default thresholds a 20k idle cycle ran ~2.5 s of collections, most of them
full ones rescanning that heap, and ~1.3 s more at exit, to free memory the OS takes back anyway. As
mypy's main does, the young generation is collected every 50,000 new objects instead of every 700, and
at exit the collector leaves the heap alone (`gc.freeze`); finalizers and atexit handlers run as before.
"""

from __future__ import annotations

import atexit
import gc

# New container objects between two young-generation collections (Python's default: 700).
YOUNG_THRESHOLD = 50_000


def for_a_process_that_ends_with_its_work() -> None:
    """Set the thresholds and the exit's freeze; calling it again changes nothing."""
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
