"""Length-sorted batches sized by a token budget instead of a fixed count, and the one out-of-memory test.

Everything that batches by padded tokens (the scoring engine, attributions) takes its
default budget from `default_token_budget` and recognises a memory error with
`is_out_of_memory`, so one setting and one rule hold across the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Padded tokens per forward pass. CPU caches favour small batches (measured with
# benchmarks/bench_vs_lmeval.py); GPUs favour large ones.
DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET = 1024, 65536


def default_token_budget(device) -> int:
    """The default budget for a device (a torch.device or its name)."""
    kind = getattr(device, "type", str(device).partition(":")[0])
    return DEFAULT_GPU_BUDGET if kind == "cuda" else DEFAULT_CPU_BUDGET


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
    """True for an allocator out-of-memory error: CUDA's OutOfMemoryError, Python's MemoryError, and the
    RuntimeErrors CPU, MPS and other backends raise ("... out of memory", "can't allocate memory")."""
    try:
        import torch

        oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                      getattr(torch.cuda, "OutOfMemoryError", None)) if isinstance(t, type))
    except ImportError:  # pragma: no cover - torch is a core dependency
        oom_types = ()
    if isinstance(exc, (MemoryError, *oom_types)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
