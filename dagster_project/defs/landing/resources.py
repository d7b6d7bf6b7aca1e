"""Where event files land (ONBOARDING_LANDING_DIR), as a Dagster resource read at run time."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from dagster_project.lib import config
from dagster_project.lib.resources import EnvBackedResource
from dagster_project.lib.settings import Env


class LandingResource(EnvBackedResource):
    """Where event files land. `path` empty = ONBOARDING_LANDING_DIR, else $ONBOARDING_HOME/landing."""

    ENV: ClassVar[dict[str, Env]] = {"path": config.LANDING_DIR}

    path: str | None = None

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else config.landing_dir()
