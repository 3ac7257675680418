"""Confidence intervals for metrics computed from per-sample values.

One method for every native metric: the percentile bootstrap over samples,
which works for means and for ratio metrics such as perplexity alike (a ratio
of sums is recomputed on each resample instead of being approximated).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

Reducer = Callable[[Mapping[str, np.ndarray]], np.ndarray]

BOOTSTRAP_METHOD = "bootstrap-percentile"


def bootstrap_ci(
    columns: Mapping[str, np.ndarray],
    reduce: Reducer,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of `reduce` over rows of `columns` (reduce acts on the last axis)."""
    n = len(next(iter(columns.values())))
    if n < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    stats = reduce({k: np.asarray(v, dtype=float)[idx] for k, v in columns.items()})
    alpha = (1.0 - confidence) / 2.0
    # A resample can leave a statistic undefined (a subgroup drawn zero times): it is left out.
    lo, hi = np.nanquantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)
