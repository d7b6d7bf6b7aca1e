"""Reverse ETL to Customer.io: journey state and triggers from the warehouse to the Track API.

Entry point: `sync_customerio()` (`sync.py`: one run and its order of durability). The run plans
(`plan.py`: the diff of the marts -> ops.outbox) and delivers (`delivery.py`: batches and what each HTTP
status means, beside `transport.py`: the official `customerio` client, pacing and retries); `result.py`
is what a run did.
"""

from reverse_etl.customerio.result import CustomerIOAuthError, SyncResult
from reverse_etl.customerio.settings import CustomerIOSettings
from reverse_etl.customerio.sync import sync_customerio

__all__ = ["CustomerIOAuthError", "CustomerIOSettings", "SyncResult", "sync_customerio"]
