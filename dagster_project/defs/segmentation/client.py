"""One classification call through the real `anthropic` client, with retries we can account for.

The SDK's own retries are off (max_retries=0) so that each attempt, each wait and each token is
counted here: 429 and 529 (and other 5xx, timeouts, connection errors) are retried up to
`max_attempts`, waiting what `retry-after` / `retry-after-ms` says (capped), else exponential backoff.
Client errors (400, 401, 403, 404) are not retried; an authentication failure stops the whole run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster_project.defs.segmentation.costs import Usage
from dagster_project.defs.segmentation.guardrails import Answer, MalformedAnswer, parse_tool_input
from dagster_project.defs.segmentation.prompt import build_request

if TYPE_CHECKING:
    import anthropic


def _errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...], type[Exception]]:
    """(retryable, fatal, any other API status error). The SDK is imported on the first call, never by a
    cycle without ANTHROPIC_API_KEY (its import costs ~0.8 s of every cycle's segmentation step)."""
    import anthropic

    retryable = (
        anthropic.RateLimitError,
        anthropic.InternalServerError,  # includes OverloadedError (529)
        anthropic.APITimeoutError,
        anthropic.APIConnectionError,
    )
    return retryable, (anthropic.AuthenticationError, anthropic.PermissionDeniedError), anthropic.APIStatusError


class FatalApiError(RuntimeError):
    """Every further call would fail the same way (bad key, no permission): stop asking."""


@dataclass
class CallResult:
    answer: Answer | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    waits: list[float] = field(default_factory=list)
    latency_ms: int = 0


def make_client(timeout_seconds: float) -> anthropic.Anthropic:
    """The real client: ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL are read by the SDK itself."""
    import anthropic

    return anthropic.Anthropic(timeout=timeout_seconds, max_retries=0)


def retry_wait(exc: Exception, attempt: int, max_wait: float) -> float:
    """Seconds before the next attempt: the server's retry-after when given, else jittered backoff."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            value = headers.get(name)
            if value is None:
                continue
            try:
                return min(max(float(value) * scale, 0.0), max_wait)
            except ValueError:
                continue
    return min(0.5 * 2 ** (attempt - 1) + random.uniform(0, 0.25), max_wait)


def describe_error(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    return f"{kind} ({status})" if status else kind


def classify(
    client: anthropic.Anthropic,
    model: str,
    account_input: dict[str, Any],
    *,
    max_attempts: int,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
) -> CallResult:
    """Ask once (plus retries). Never raises except FatalApiError; errors come back in the result."""
    retryable, fatal, status_error = _errors()
    result = CallResult()
    request = build_request(account_input, model)
    started = time.monotonic()
    try:
        for attempt in range(1, max_attempts + 1):
            result.attempts = attempt
            try:
                message = client.messages.create(**request)
            except fatal as exc:
                raise FatalApiError(describe_error(exc)) from exc
            except retryable as exc:
                if attempt == max_attempts:
                    result.error = f"{describe_error(exc)} after {attempt} attempts"
                    return result
                wait = retry_wait(exc, attempt, max_wait)
                result.waits.append(wait)
                sleep(wait)
                continue
            except status_error as exc:
                result.error = describe_error(exc)
                return result
            result.usage.add(Usage.from_response(message.usage))
            try:
                result.answer = parse_tool_input(list(message.content))
            except MalformedAnswer as exc:
                result.error = f"malformed answer: {exc}"
            return result
        return result
    finally:
        result.latency_ms = int((time.monotonic() - started) * 1000)
