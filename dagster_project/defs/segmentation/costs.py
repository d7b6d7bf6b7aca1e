"""Token usage and its price, so every cycle records what segmentation cost (ops.segmentation_runs).

Prices are USD per million tokens by model family (public list prices; override with
ONBOARDING_LLM_PRICE_PER_MTOK="input,output"). Prompt caching: writes cost 1.25x input, reads 0.1x.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (input, output) USD per million tokens, matched by the longest prefix of the model id.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-opus": (5.0, 25.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-haiku": (1.0, 5.0),
}
DEFAULT_PRICE = PRICES_PER_MTOK["claude-sonnet"]
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.10


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    requests: int = 0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.requests += other.requests

    @classmethod
    def from_response(cls, usage: Any) -> Usage:
        def tokens(name: str) -> int:
            value = getattr(usage, name, None)
            return int(value) if value else 0

        return cls(
            input_tokens=tokens("input_tokens"),
            output_tokens=tokens("output_tokens"),
            cache_creation_input_tokens=tokens("cache_creation_input_tokens"),
            cache_read_input_tokens=tokens("cache_read_input_tokens"),
            requests=1,
        )


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    source: str = field(default="table")


def price_for(model: str, override: tuple[float, float] | None = None) -> Price:
    if override is not None:
        return Price(override[0], override[1], "ONBOARDING_LLM_PRICE_PER_MTOK")
    matches = [prefix for prefix in PRICES_PER_MTOK if model.startswith(prefix)]
    if not matches:
        return Price(*DEFAULT_PRICE, source="default (unknown model)")
    return Price(*PRICES_PER_MTOK[max(matches, key=len)])


def cost_usd(usage: Usage, price: Price) -> float:
    """input_tokens excludes cached tokens (Messages API semantics), so the three parts add up."""
    per_token_in = price.input_per_mtok / 1_000_000
    per_token_out = price.output_per_mtok / 1_000_000
    return round(
        usage.input_tokens * per_token_in
        + usage.cache_creation_input_tokens * per_token_in * CACHE_WRITE_FACTOR
        + usage.cache_read_input_tokens * per_token_in * CACHE_READ_FACTOR
        + usage.output_tokens * per_token_out,
        6,
    )
