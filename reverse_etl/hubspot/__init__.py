"""Reverse ETL to HubSpot: each account a company, its primary contact a contact, associated.

Entry point: `sync_hubspot()`; see `sync.py` for the order of durability, `transport.py` for how
the official `hubspot-api-client` is used and `properties.py` for what HubSpot receives.
"""

from reverse_etl.hubspot.settings import HubSpotSettings
from reverse_etl.hubspot.sync import HubSpotAuthError, SyncResult, sync_hubspot

__all__ = ["HubSpotAuthError", "HubSpotSettings", "SyncResult", "sync_hubspot"]
