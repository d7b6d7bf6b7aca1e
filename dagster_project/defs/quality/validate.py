"""Run the tracking-plan suites with Great Expectations 1.x on pandas frames.

GX is imported lazily and its ephemeral context is built once per process: the import alone costs
about 2.5 s here (the context, datasource and validation of a small batch add ~0.1 s), which an hourly
job pays once per run, not once per suite, and only when a suite has new rows. A pass starts it in a
background thread as soon as it knows that (`preload`), so the import runs while DuckDB stages and
scans the batch (DuckDB releases the GIL), and waits for it before the first validation (`warm_up`).
Neither GX nor pandas is imported with the code location.

GX's import also loads what this pass never uses, so it is trimmed (`_context`), each part only when
the process has not imported it already:
- Spark's Python package, when installed (the `spark` extra), for a Spark datasource: +0.2-0.3 s, and
  pyspark's import calls `sys.exit(0)` in an interpreter started with `python -c`. It is hidden from GX
  while GX imports (GX's compatibility layer then treats it as not installed); the pass waits for that
  import to end before it returns (`settle`), so no later step finds it hidden;
- `scipy.stats`, which three GX modules import for distribution expectations (KL divergence, KS tests)
  and call only while computing them: it is loaded on first use instead (+0.6-0.7 s otherwise).
And GX's fingerprint of each frame (a hash of every cell, kept only in the batch markers) is skipped.
Measured (CPU seconds of GX's import and context, dagster and pandas already loaded): 2.0-2.1 with
pyspark hidden, 1.35-1.4 with `scipy.stats` deferred too (SQLAlchemy, which GX also imports when
installed, is already loaded in a cycle with a persistent Dagster instance).
Analytics and progress bars are off: no network, no noise.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dagster_project.defs.quality.suites import SuiteSpec

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE = 10
INDEX_COLUMNS = ["message_id", "account_id"]


@dataclass
class ExpectationOutcome:
    """One expectation's result on one batch, reduced to what the gate, alerts and report need."""

    suite: str
    expectation_type: str
    column: str
    severity: str
    why: str
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float
    mostly: float = 1.0
    sample_message_ids: list[str] = field(default_factory=list)
    affected_accounts: dict[str, int] = field(default_factory=dict)
    unexpected_values: list[str] = field(default_factory=list)
    error: str | None = None
    missing_count: int = 0  # rows GX left out of `unexpected_percent` (nulls, for most rules); merged chunks need it
    unattributed: int = 0  # failing rows that belong to no account: they gate nobody
    min_count: int | None = None  # the suite's `meta.min_count` for this expectation (else the setting)
    under_min_count: bool = False  # over the share threshold, but on fewer rows than the minimum count

    @property
    def blocking(self) -> bool:
        return self.severity == "critical"

    @property
    def name(self) -> str:
        return f"{self.suite}.{self.column}.{self.expectation_type.removeprefix('expect_column_values_to_')}"


# Imported by GX when present, never used by a pandas validation.
UNUSED_BY_GX = ("pyspark",)
# Imported by GX at module level, used only inside expectations the suites do not use.
DEFERRED_BY_GX = ("scipy.stats",)


@contextmanager
def _hidden(modules: tuple[str, ...]) -> Iterator[None]:
    """Make `import <module>` fail (as if not installed) for modules not already imported, then undo it."""
    hidden = [m for m in modules if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for m in hidden:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]


def _defer(modules: tuple[str, ...]) -> None:
    """Let `import <module>` bind a module that loads itself on first attribute access (importlib's
    LazyLoader), for modules not already imported; a missing module is left to its importer."""
    for name in modules:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


@lru_cache(maxsize=1)
def _context() -> Any:
    _defer(DEFERRED_BY_GX)
    with _hidden(UNUSED_BY_GX):
        import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.execution_engine import pandas_execution_engine

    # GX hashes every frame smaller than this threshold (pandas' hash of every cell) for a fingerprint in
    # the batch's markers, metadata this pass never reads: with 0 it hashes none. 4 s of wall time in a
    # first pass over 785,000 suite rows; no outcome changes.
    pandas_execution_engine.HASH_THRESHOLD = 0

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        ),
    )
    asset = context.data_sources.add_pandas("landed_batch").add_dataframe_asset("segment_messages")
    return asset.add_batch_definition_whole_dataframe("newly_landed")


_SUITES: dict[str, Any] = {}


def _suite(spec: SuiteSpec) -> Any:
    """The GX suite of a spec, built once per process per file content."""
    key = json.dumps(spec.raw, sort_keys=True)
    if key not in _SUITES:
        _SUITES[key] = _build_suite(spec)
    return _SUITES[key]


def _build_suite(spec: SuiteSpec) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = [
        ExpectationConfiguration(
            type=e["type"], kwargs=e["kwargs"], meta=e.get("meta"), severity=e.get("severity", "critical")
        ).to_domain_obj()
        for e in spec.raw.get("expectations", [])
    ]
    return gx.ExpectationSuite(name=spec.name, expectations=expectations, meta=spec.raw.get("meta"))


_preload_lock = threading.Lock()
_preload: threading.Thread | None = None
_preload_seconds: float | None = None


def _load_in_background() -> None:
    global _preload_seconds
    started = time.perf_counter()
    try:
        _context()
    except BaseException:  # warm_up() raises it again in the caller's thread
        return
    _preload_seconds = round(time.perf_counter() - started, 3)


def preload() -> bool:
    """Start importing GX and building its context in a background thread (once per process); whether
    this call started it."""
    global _preload
    with _preload_lock:
        if _preload is not None or _context.cache_info().currsize:
            return False
        _preload = threading.Thread(target=_load_in_background, name="great-expectations-import", daemon=True)
        _preload.start()
        return True


def warm_up() -> float:
    """Wait for GX's import and context (started by `preload`, else paid now); the seconds waited."""
    started = time.perf_counter()
    with _preload_lock:
        thread = _preload
    if thread is not None:
        thread.join()
    _context()  # cached; raises here if the background import failed
    return round(time.perf_counter() - started, 3)


def settle() -> None:
    """Wait for a background import still running (a pass that ends early, or fails, before validating)."""
    with _preload_lock:
        thread = _preload
    if thread is not None:
        thread.join()


def import_seconds() -> float | None:
    """How long the background import took, in its own thread (None when it was not preloaded)."""
    return _preload_seconds


def validate_frame(spec: SuiteSpec, frame: pd.DataFrame) -> list[ExpectationOutcome]:
    """Validate one suite on one frame; an expectation that raises is a failed outcome with its error."""
    batch = _context().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(
        _suite(spec),
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": INDEX_COLUMNS},
    )
    return [_outcome(spec, r) for r in result.results]


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _outcome(spec: SuiteSpec, r: Any) -> ExpectationOutcome:
    cfg = r.expectation_config
    res = r.result or {}
    column = cfg.kwargs.get("column", "")
    index_rows = res.get("unexpected_index_list") or []
    accounts: dict[str, int] = {}
    samples: list[str] = []
    unattributed = 0
    for row in index_rows:
        if not isinstance(row, dict):
            continue
        account = _clean(row.get("account_id"))
        if account is None:
            unattributed += 1
        else:
            accounts[account] = accounts.get(account, 0) + 1
        message_id = _clean(row.get("message_id"))
        if message_id and len(samples) < SAMPLE_SIZE:
            samples.append(message_id)
    values: list[str] = []
    if cfg.type == "expect_column_values_to_be_in_set":
        for v in res.get("partial_unexpected_list") or []:
            text = _clean(v)
            if text is not None and text not in values and len(values) < SAMPLE_SIZE:
                values.append(text[:60])
    error = None
    info = r.exception_info or {}
    if info.get("raised_exception"):
        error = str(info.get("exception_message") or "expectation raised")[:300]
    severity = str(getattr(cfg.severity, "value", cfg.severity) or "critical")
    min_count = (cfg.meta or {}).get("min_count")
    return ExpectationOutcome(
        suite=spec.name,
        expectation_type=cfg.type,
        column=column,
        severity=severity,
        why=(cfg.meta or {}).get("why", ""),
        success=bool(r.success),
        element_count=int(res.get("element_count") or 0),
        unexpected_count=int(res.get("unexpected_count") or 0),
        unexpected_percent=float(res.get("unexpected_percent") or 0.0),
        mostly=float(cfg.kwargs.get("mostly") or 1.0),
        sample_message_ids=samples,
        affected_accounts=accounts,
        unexpected_values=values,
        error=error,
        missing_count=int(res.get("missing_count") or 0),
        unattributed=unattributed,
        min_count=int(min_count) if min_count is not None else None,
    )
