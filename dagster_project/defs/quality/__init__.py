"""Data quality for landed Segment events: the tracking plan (GX suites), drift, and the send gate.

A signup that keeps firing without `plan_tier` (everyone silently lands in the
standard track) is what this package exists to stop: every newly landed batch is validated against the
suites in `expectations/`, compared with the last good week, and a blocking failure closes the send
gate (`ops.send_gate`) for the accounts it corrupts while the rest of the pipeline runs.

Entry point: `run.run_quality(con, as_of)`. A pass keeps bounded memory on any backlog, a first load of
millions of messages included: the batch is staged in DuckDB, the per-row work is SQL (`scan.py`) and GX
validates each suite in chunks merged into one outcome per check (`merge.py`); see `run.py`.
"""
