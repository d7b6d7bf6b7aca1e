"""The model behind the segmentation, as a Dagster resource read at run time.

Empty fields fall back to the environment (ONBOARDING_LLM_MODEL, ONBOARDING_SEGMENTATION_*), so the
same code location runs with or without a key; ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL are read by
the anthropic SDK itself and never stored in run config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from dagster_project.defs.segmentation import settings
from dagster_project.lib.resources import EnvBackedResource
from dagster_project.lib.settings import Env

if TYPE_CHECKING:  # the SDK loads only when a key is set and a run asks the model (~1.5 s of start-up)
    import anthropic


class SegmentationModelResource(EnvBackedResource):
    """The Anthropic model behind the segmentation. Empty fields fall back, at run time, to their variables."""

    ENV: ClassVar[dict[str, Env]] = {
        "model": settings.LLM_MODEL,
        "min_confidence": settings.MIN_CONFIDENCE,
        "concurrency": settings.CONCURRENCY,
        "max_accounts_per_run": settings.MAX_PER_RUN,
        "timeout_seconds": settings.TIMEOUT,
    }

    model: str | None = None
    min_confidence: float | None = None
    concurrency: int | None = None
    max_accounts_per_run: int | None = None
    timeout_seconds: float | None = None

    def enabled(self) -> bool:
        return settings.api_key_present()

    def resolved_model(self) -> str:
        return self.value("model")

    def resolved_min_confidence(self) -> float:
        return self.min_confidence if self.min_confidence is not None else settings.min_confidence()

    def resolved_concurrency(self) -> int:
        return self.concurrency or settings.concurrency()

    def resolved_max_accounts(self) -> int:
        return self.max_accounts_per_run if self.max_accounts_per_run is not None else settings.max_accounts_per_run()

    def client(self) -> anthropic.Anthropic:
        from dagster_project.defs.segmentation.client import make_client

        return make_client(self.timeout_seconds or settings.timeout_seconds())
