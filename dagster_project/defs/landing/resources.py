"""Where event files land (ONBOARDING_LANDING_DIR), as a Dagster resource read at run time."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_project.lib import config


class LandingResource(dg.ConfigurableResource):
    """Where event files land. `path` empty = ONBOARDING_LANDING_DIR, else $ONBOARDING_HOME/landing."""

    path: str | None = None

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else config.landing_dir()
