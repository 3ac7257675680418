"""Confidence intervals for metrics computed from per-sample values.

Two methods, both inside the metric's range by construction:

- the percentile bootstrap over samples, for means and for ratio metrics such
  as perplexity alike (a ratio of sums is recomputed on each resample instead
  of being approximated);
- the Wilson score interval for a proportion (a mean of 0/1 scores), which
  unlike the normal approximation p +- z*sqrt(p(1-p)/n) never leaves [0, 1]
  and keeps its coverage near 0 and 1 and on small n.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Reducer = Callable[[Mapping[str, np.ndarray]], np.ndarray]

BOOTSTRAP_METHOD = "bootstrap-percentile"
WILSON_METHOD = "wilson-score"


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for `successes` out of `n` (Wilson 1927; Newcombe 1998, method 3).

        centre = (p + z^2/2n) / (1 + z^2/n),  half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)

    with p = successes / n and z the two-sided normal quantile of `confidence`. Always inside [0, 1];
    0 successes give a lower end of exactly 0, n successes an upper end of exactly 1.
    """
    from statistics import NormalDist

    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive whole number, got {n!r}")
    if int(successes) != successes or not 0 <= successes <= n:
        raise ValueError(f"successes must be a whole number in [0, {n}], got {successes!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = successes / n, z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, float(centre - half))
    high = 1.0 if successes == n else min(1.0, float(centre + half))
    return low, high


def resample_indices(n: int, n_resamples: int, seed: int | list[int], strata: np.ndarray | None = None) -> np.ndarray:
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


# Aggregates that can be recomputed on resampled rows: name -> (columns a row holds, reduce over the last axis).
# Names are lm-eval's aggregation names; a (loglikelihood, weight) row is lm-eval's per-sample value for
# corpus-level perplexities (weight = words or bytes of the document).
_LN2 = float(np.log(2.0))
AGGREGATES: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    "mean": (1, lambda x: x[..., 0].mean(-1)),
    "perplexity": (1, lambda x: np.exp(-x[..., 0].mean(-1))),
    "weighted_perplexity": (2, lambda x: np.exp(-x[..., 0].sum(-1) / x[..., 1].sum(-1))),
    "bits_per_byte": (2, lambda x: -x[..., 0].sum(-1) / x[..., 1].sum(-1) / _LN2),
}


@dataclass(frozen=True)
class Interval:
    """A metric's interval from its per-sample values: [low, high] or None, how, and the metric's range."""

    ci: list[float] | None
    method: str
    range: tuple[float, float] | None = None  # set for proportions: [0, 1]
    note: str = ""


def _as_rows(values: list, width: int) -> np.ndarray | None:
    """Per-sample values as an (n, width) float array, or None when they are not numbers of that shape."""
    try:
        rows = np.asarray([list(v) if isinstance(v, (list, tuple)) else [v] for v in values], dtype=float)
    except (TypeError, ValueError):
        return None
    if rows.ndim != 2 or rows.shape[1] != width or not np.all(np.isfinite(rows)):
        return None
    return rows


def sample_interval(values: list, aggregation: str | None, reported: float, *, confidence: float = 0.95,
                    seed: int = 0, n_resamples: int = 1000, strata: np.ndarray | None = None) -> Interval:
    """The interval of a metric whose value is `aggregation` over per-sample `values` (a Wilson or bootstrap one).

    - a mean of 0/1 values: Wilson score interval, range [0, 1];
    - another mean, or a corpus aggregate in AGGREGATES: percentile bootstrap recomputing it on resampled rows
      (stratified by `strata`, e.g. the subtask of each row of a group);
    - anything else, fewer than two rows for a bootstrap, or values that do not reproduce `reported` (the
      metric is not what its name says): no interval, method "none", with the reason in `note`.
    """
    none = "none"
    if not values:
        return Interval(None, none, note="no per-sample values")
    if aggregation not in AGGREGATES:
        return Interval(None, none, note=f"aggregation '{aggregation}' is not a mean or a known corpus aggregate")
    width, reduce = AGGREGATES[aggregation]
    rows = _as_rows(values, width)
    if rows is None:
        return Interval(None, none, note="per-sample values are not finite numbers of the expected shape")
    with np.errstate(all="ignore"):
        recomputed = float(reduce(rows))
    if not np.isfinite(reported) or not np.isclose(recomputed, reported, rtol=1e-6, atol=1e-9):
        return Interval(None, none, note=f"per-sample values give {recomputed:.6g}, not the reported {reported:.6g}")
    if aggregation == "mean" and np.all((rows == 0) | (rows == 1)):
        low, high = wilson_interval(int(rows.sum()), len(rows), confidence)
        return Interval([low, high], WILSON_METHOD, (0.0, 1.0))
    if len(rows) < 2:
        return Interval(None, none, note="one sample: no bootstrap interval")
    # In chunks of about 4M values, so a large task does not hold n_resamples x n rows at once.
    chunk = max(1, 4_000_000 // (len(rows) * width))
    stats = []
    for i, start in enumerate(range(0, n_resamples, chunk)):
        idx = resample_indices(len(rows), min(chunk, n_resamples - start), [seed, i], strata)
        with np.errstate(all="ignore"):
            stats.append(reduce(rows[idx]))
    low, high = percentile_interval(np.concatenate(stats), confidence)
    method = BOOTSTRAP_METHOD if aggregation == "mean" else f"{BOOTSTRAP_METHOD} ({aggregation} recomputed)"
    return Interval([float(low), float(high)], method)
