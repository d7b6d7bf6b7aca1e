"""The HubSpot integration's settings: one resource, the only place its variables are named."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from dagster_project.lib import config
from dagster_project.lib.resources import EnvBackedResource
from dagster_project.lib.settings import Env
from reverse_etl.hubspot import HubSpotSettings
from reverse_etl.hubspot.settings import DEFAULT_API_URL


class HubSpotResource(EnvBackedResource):
    """CRM settings, read at run time. No token = the local outbox ($ONBOARDING_HOME/outbox/hubspot.jsonl)."""

    ENV: ClassVar[dict[str, Env]] = {
        "access_token": Env("HUBSPOT_ACCESS_TOKEN", None, "private-app token (CRM v3); unset = write to the local outbox"),
        "api_url": Env("HUBSPOT_API_URL", DEFAULT_API_URL, "base URL of the HubSpot API (tests use a local server)"),
    }

    access_token: str | None = None
    api_url: str | None = None
    requests_per_10s: float = 100.0
    match_by_domain: bool = True
    max_item_attempts: int = 5

    def settings(self, **overrides: Any) -> HubSpotSettings:
        """The library's settings for one sync; keyword overrides win (tests, benchmarks)."""
        base = HubSpotSettings(
            access_token=self.value("access_token"),
            api_url=(self.value("api_url") or DEFAULT_API_URL).strip(),
            requests_per_10s=self.requests_per_10s,
            match_by_domain=self.match_by_domain,
            max_item_attempts=self.max_item_attempts,
            outbox_dir=config.outbox_dir(),
        )
        return replace(base, **overrides) if overrides else base
