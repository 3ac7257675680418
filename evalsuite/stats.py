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


def resample_indices(n: int, n_resamples: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """(n_resamples, n) row indices drawn with replacement; with `strata`, inside each stratum (sizes kept).

    Stratifying keeps every group in every resample, so a small group's rates stay defined.
    """
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_resamples, n))
    strata = np.asarray(strata)
    idx = np.empty((n_resamples, n), dtype=np.int64)
    at = 0
    for value in np.unique(strata):
        rows = np.flatnonzero(strata == value)
        idx[:, at:at + len(rows)] = rows[rng.integers(0, len(rows), size=(n_resamples, len(rows)))]
        at += len(rows)
    return idx


def percentile_interval(stats: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """[low, high] percentile bounds along axis 0 of resampled statistics.

    A resample can leave a statistic undefined (NaN, e.g. a subgroup drawn zero times): it is left
    out; a statistic undefined in every resample gets NaN bounds, which is the honest answer.
    """
    import warnings

    alpha = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(stats, [alpha, 1.0 - alpha], axis=0)


def bootstrap_ci(
    columns: Mapping[str, np.ndarray],
    reduce: Reducer,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of `reduce` over rows of `columns` (reduce acts on the last axis)."""
    n = len(next(iter(columns.values())))
    if n < 2:
        return (float("nan"), float("nan"))
    idx = resample_indices(n, n_resamples, seed, strata)
    stats = reduce({k: np.asarray(v, dtype=float)[idx] for k, v in columns.items()})
    lo, hi = percentile_interval(stats, confidence)
    return float(lo), float(hi)
