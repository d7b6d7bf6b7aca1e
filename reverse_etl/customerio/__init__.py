"""Reverse ETL to Customer.io: journey state and triggers from the warehouse to the Track API.

Entry point: `sync_customerio()`; see `sync.py` for the order of durability and `transport.py`
for how the official `customerio` client is used.
"""

from reverse_etl.customerio.settings import CustomerIOSettings
from reverse_etl.customerio.sync import CustomerIOAuthError, SyncResult, sync_customerio

__all__ = ["CustomerIOAuthError", "CustomerIOSettings", "SyncResult", "sync_customerio"]
