"""Make customer-typed text inert in Slack mrkdwn.

Slack parses `<...>` as links and mentions (`<!channel>`, `<@U123>`, `<https://x|y>`), so a company named
`<!channel> Corp` would ping a whole channel. Slack documents exactly three characters to escape:
`&`, `<`, `>`. Every text object we build with customer text also sets `verbatim: true`, which stops
Slack from auto-linking bare URLs and channel names, so `evil.example.com` stays plain text.
"""

from __future__ import annotations

import re

_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape(text: object) -> str:
    """Escape `&`, `<`, `>` (in that order, so nothing is escaped twice)."""
    value = "" if text is None else str(text)
    for raw, entity in _ESCAPES:
        value = value.replace(raw, entity)
    return value


def clip(text: object, limit: int) -> str:
    """Shorten raw text to `limit` characters on a word boundary, with an ellipsis.

    Clip BEFORE escaping: clipping escaped text could cut an entity like `&amp;` in half.
    """
    value = _CONTROL.sub(" ", "" if text is None else str(text)).strip()
    if len(value) <= limit:
        return value
    cut = value[: max(limit - 1, 1)]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def customer_text(text: object, limit: int = 80, default: str = "(unnamed)") -> str:
    """Customer-typed text, one line, clipped and escaped: safe inside any mrkdwn text object."""
    value = clip(text, limit).replace("\n", " ").replace("\r", " ")
    return escape(value) if value else default


def redact_emails(text: str) -> str:
    """Drop e-mail addresses (none go to Slack or to the LLM unless configured)."""
    return _EMAIL.sub("[e-mail]", text)


def safe_url(url: object) -> str | None:
    """A link target we trust enough to render as `<url|label>`: https, no characters that break the syntax."""
    if not isinstance(url, str):
        return None
    value = url.strip()
    if not value.startswith("https://") or any(ch in value for ch in "<>|\n\r\t "):
        return None
    return value
