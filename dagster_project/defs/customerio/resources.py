"""The Customer.io integration's settings: one resource, the only place its variables are named."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from dagster_project.lib import config
from dagster_project.lib.resources import EnvBackedResource
from dagster_project.lib.settings import Env
from reverse_etl.customerio import CustomerIOSettings


class CustomerIOResource(EnvBackedResource):
    """Track API settings, read at run time. No credentials = the local outbox
    ($ONBOARDING_HOME/outbox/customerio.jsonl)."""

    ENV: ClassVar[dict[str, Env]] = {
        "site_id": Env("CUSTOMERIO_SITE_ID", None, "Track API site id; unset = write to the local outbox"),
        "api_key": Env("CUSTOMERIO_API_KEY", None, "Track API key; unset = write to the local outbox"),
        "region": Env("CUSTOMERIO_REGION", "us", "`us` or `eu`"),
        "track_host": Env("CUSTOMERIO_TRACK_HOST", None,
                          "`host` or `host:port` of the Track API (always HTTPS); unset = the region's host"),
    }

    site_id: str | None = None
    api_key: str | None = None
    region: str | None = None
    track_host: str | None = None
    rate_per_second: float = 100.0
    max_item_attempts: int = 5

    def settings(self, **overrides: Any) -> CustomerIOSettings:
        """The library's settings for one sync; keyword overrides win (tests, benchmarks)."""
        base = CustomerIOSettings(
            site_id=self.value("site_id"),
            api_key=self.value("api_key"),
            region=(self.value("region") or "us").strip().lower(),
            track_host=self.value("track_host"),
            rate_per_second=self.rate_per_second,
            max_item_attempts=self.max_item_attempts,
            outbox_dir=config.outbox_dir(),
        )
        return replace(base, **overrides) if overrides else base
