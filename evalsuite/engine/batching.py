"""Length-sorted batches sized by a token budget instead of a fixed count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def token_budget_batches(
    items: Sequence[T], length: Callable[[T], int], token_budget: int
) -> list[list[T]]:
    """Sort items longest first and cut them into batches whose padded size
    (rows x longest row) stays within `token_budget`. A single item longer than
    the budget still gets a batch of its own. Longest first means an
    out-of-memory error shows up on the first batch, not after an hour."""
    ordered = sorted(items, key=length, reverse=True)
    batches: list[list[T]] = []
    current: list[T] = []
    width = 0
    for item in ordered:
        n = length(item)
        new_width = max(width, n)
        if current and new_width * (len(current) + 1) > token_budget:
            batches.append(current)
            current, new_width = [], n
        current.append(item)
        width = new_width
    if current:
        batches.append(current)
    return batches


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA and CPU allocator out-of-memory errors."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )
