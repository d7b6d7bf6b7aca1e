"""Turning a model answer (or its absence) into a track decision the business can live with.

Pure functions: the thresholds are computed in dbt (int_accounts_scored.self_serve_forbidden and
high_touch_allowed from vars segmentation_never_self_serve_arr / segmentation_high_touch_min_arr), so
the model, the rules and this module all obey the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster_project.defs.segmentation.prompt import TOOL_NAME, TRACKS

FALLBACK_TRACK = "standard"
MAX_REASON_CHARS = 300


class MalformedAnswer(ValueError):
    """The response did not carry a valid call of our tool (missing, wrong enum, bad confidence)."""


@dataclass(frozen=True)
class Answer:
    track: str
    confidence: float
    reason: str


@dataclass(frozen=True)
class Decision:
    """One row of ops.account_segmentation (without the keys and clock)."""

    track: str
    track_source: str  # 'llm' | 'fallback'
    confidence: float | None
    reason: str


def parse_tool_input(content: list[Any]) -> Answer:
    """The first tool_use block of our tool, validated: a strict schema is a promise, not a proof."""
    for block in content:
        if getattr(block, "type", None) != "tool_use" or getattr(block, "name", None) != TOOL_NAME:
            continue
        data = getattr(block, "input", None)
        if not isinstance(data, dict):
            raise MalformedAnswer("tool input is not an object")
        track = data.get("track")
        if track not in TRACKS:
            raise MalformedAnswer(f"track {str(track)[:40]!r} is not one of {', '.join(TRACKS)}")
        confidence = data.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise MalformedAnswer("confidence is not a number")
        if not 0.0 <= float(confidence) <= 1.0:
            raise MalformedAnswer(f"confidence {confidence} is outside 0-1")
        reason = data.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise MalformedAnswer("reason is missing")
        one_line = " ".join(reason.split())[:MAX_REASON_CHARS]
        return Answer(track=track, confidence=float(confidence), reason=one_line)
    raise MalformedAnswer(f"no {TOOL_NAME} tool call in the response")


def apply_guardrails(track: str, *, self_serve_forbidden: bool, high_touch_allowed: bool) -> tuple[str, str | None]:
    """The track after the hard floors, and why it moved (None when it did not)."""
    if track == "self_serve" and self_serve_forbidden:
        return "standard", "guardrail: enterprise plan or ARR at the floor is never self_serve"
    if track == "high_touch" and not high_touch_allowed:
        return "standard", "guardrail: high_touch needs the minimum ARR"
    return track, None


def decide(
    answer: Answer | None,
    error: str | None,
    *,
    min_confidence: float,
    self_serve_forbidden: bool,
    high_touch_allowed: bool,
) -> Decision:
    """Model answer -> decision: errors and low confidence fall back to standard, guardrails always apply."""
    if answer is None:
        return Decision(FALLBACK_TRACK, "fallback", None, f"error: {error or 'no answer'}; standard by default")
    if answer.confidence < min_confidence:
        return Decision(
            FALLBACK_TRACK,
            "fallback",
            answer.confidence,
            f"low confidence {answer.confidence:.2f} < {min_confidence:.2f} (model said {answer.track}); "
            "standard by default",
        )
    track, why = apply_guardrails(
        answer.track, self_serve_forbidden=self_serve_forbidden, high_touch_allowed=high_touch_allowed
    )
    reason = answer.reason if why is None else f"{why} (model said {answer.track}: {answer.reason})"
    return Decision(track, "llm", answer.confidence, reason[:MAX_REASON_CHARS])
