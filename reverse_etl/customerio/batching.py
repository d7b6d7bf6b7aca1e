"""Packing operations into v2 `batch` requests just under the 500 KB request limit.

Fewer, fuller requests are what keeps a 100k-account sync far below the 100 requests/second
limit. Sizes are computed exactly as the client serialises the body (requests' `json.dumps`
with default separators: `{"batch": [op, op]}`), so "just under" is measured, not guessed.
Order is preserved (identifies before events), so a person exists before their event arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

MAX_REQUEST_BYTES = 500 * 1000  # Customer.io: "smaller than 500KB"; decimal kB is the safe reading
ENVELOPE_BYTES = len('{"batch": []}')
SEPARATOR_BYTES = len(", ")

T = TypeVar("T")


def request_size(op_sizes: Iterable[int]) -> int:
    """Serialised size of `{"batch": [...]}` holding operations of the given sizes."""
    sizes = list(op_sizes)
    return ENVELOPE_BYTES + sum(sizes) + SEPARATOR_BYTES * max(0, len(sizes) - 1)


def pack(
    items: Iterable[tuple[T, int]],
    *,
    max_bytes: int = MAX_REQUEST_BYTES,
    max_ops: int | None = None,
) -> Iterator[list[T]]:
    """Group (item, serialised size) pairs into batches whose request body stays <= max_bytes.

    An item too large to fit even alone is yielded alone (the caller rejects it as invalid;
    payloads.check_size already keeps operations under 32 KB, far below the request limit).
    """
    batch: list[T] = []
    used = ENVELOPE_BYTES
    for item, size in items:
        extra = size + (SEPARATOR_BYTES if batch else 0)
        full = max_ops is not None and len(batch) >= max_ops
        if batch and (used + extra > max_bytes or full):
            yield batch
            batch, used = [], ENVELOPE_BYTES
            extra = size
        batch.append(item)
        used += extra
    if batch:
        yield batch
