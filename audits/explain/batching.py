"""Internal batch sizes from a memory budget, and an out-of-memory batch retried at half the size.

Attribution methods evaluate many variants of one input (interpolation steps,
ablations, coalitions). They are batched by a budget of padded tokens per
forward pass, the same unit the engine uses, so one setting fits a device. An
out-of-memory error halves the batch and tries again; a batch of one that
still does not fit is a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from evalsuite.engine.batching import default_token_budget, is_out_of_memory

T = TypeVar("T")


def token_budget_for(model, device=None) -> int:
    """The adapter's own token budget when it has one, else a default for its device."""
    budget = getattr(model, "token_budget", None)
    if budget:
        return int(budget)
    return default_token_budget(device if device is not None else getattr(model, "device", None))


def batch_size_for(tokens_per_item: int, token_budget: int, cap: int = 512) -> int:
    """How many items of `tokens_per_item` tokens fit the budget (at least 1)."""
    return max(1, min(cap, token_budget // max(1, tokens_per_item)))


def with_oom_retry(fn: Callable[[int], T], batch_size: int, *, what: str = "attribution") -> T:
    """Call fn(batch_size); on out-of-memory free the cache and retry with half the batch."""
    from evalsuite.errors import UserError

    size = max(1, int(batch_size))
    while True:
        try:
            return fn(size)
        except BaseException as exc:
            if not is_out_of_memory(exc):
                raise
            _empty_cache()
            if size == 1:
                raise UserError(f"{what} ran out of memory with a batch of one; shorten the input, use fewer "
                                "steps or a smaller model, or run on a device with more memory") from None
            size //= 2


def _empty_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass
