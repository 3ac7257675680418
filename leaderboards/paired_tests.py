"""Paired tests for regressions: is the candidate worse than the baseline by more than a margin?

Both tests work on per-sample scores joined by doc_id, oriented so that a
positive difference d_i = better(baseline_i) - better(candidate_i) is a drop.
The null hypothesis is "the true mean drop is at most max_drop"; a regression
rule fails only when that null is rejected at level alpha (one-sided), i.e.
when the data show a drop larger than allowed. Noise alone therefore fails a
release with probability at most alpha.

- McNemar's exact test (0/1 scores, max_drop 0): only discordant pairs carry
  information; with b losses (baseline right, candidate wrong) and c wins,
  under the null a discordant pair is a loss with probability <= 1/2, so the
  p-value is P(Binomial(b + c, 1/2) >= b).
- Paired percentile bootstrap (any scores, any margin): resample the pairs,
  recompute the mean drop; the p-value is (1 + #{resampled mean <= max_drop}) / (1 + B),
  which is below alpha exactly when the one-sided (1 - alpha) percentile lower
  confidence bound of the mean drop lies above max_drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedResult:
    method: str  # "mcnemar-exact" or "paired-bootstrap"
    n: int  # joined pairs
    mean_drop: float  # observed mean of baseline - candidate (oriented)
    p_value: float  # one-sided, for H0: true drop <= max_drop
    max_drop: float
    detail: str

    def rejects(self, alpha: float) -> bool:
        return self.p_value < alpha


def mcnemar_exact(losses: int, wins: int) -> float:
    """One-sided exact p-value P(X >= losses), X ~ Binomial(losses + wins, 1/2); 1.0 with no discordant pair."""
    n = losses + wins
    if n == 0:
        return 1.0
    # Sum in log space so a few thousand discordant pairs do not overflow.
    log_terms = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
                 for k in range(losses, n + 1)]
    peak = max(log_terms)
    return min(1.0, math.exp(peak) * sum(math.exp(t - peak) for t in log_terms))


def paired_bootstrap(drops: np.ndarray, max_drop: float, *, n_resamples: int = 10_000, seed: int = 0) -> float:
    """One-sided bootstrap p-value for H0: mean drop <= max_drop (see the module docstring)."""
    drops = np.asarray(drops, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // len(drops))  # bounded memory for large tasks
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        means[start:stop] = drops[rng.integers(0, len(drops), size=(stop - start, len(drops)))].mean(axis=1)
    return float((1 + np.count_nonzero(means <= max_drop)) / (1 + n_resamples))


def is_binary(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def paired_regression_test(baseline: np.ndarray, candidate: np.ndarray, *, direction: str, max_drop: float,
                           method: str = "auto", n_resamples: int = 10_000, seed: int = 0) -> PairedResult:
    """Test whether the candidate dropped by more than max_drop; arrays are aligned pairs."""
    baseline, candidate = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if direction not in ("higher", "lower"):
        raise ValueError(f"a regression needs a higher- or lower-is-better metric, not '{direction}'")
    drops = baseline - candidate if direction == "higher" else candidate - baseline
    binary = is_binary(baseline) and is_binary(candidate)
    if method == "auto":
        method = "mcnemar" if binary and max_drop == 0 else "bootstrap"
    if method == "mcnemar":
        if not binary or max_drop != 0:
            raise ValueError("McNemar's test needs 0/1 scores and max_drop 0; use test: bootstrap")
        losses, wins = int(np.count_nonzero(drops > 0)), int(np.count_nonzero(drops < 0))
        return PairedResult("mcnemar-exact", len(drops), float(drops.mean()), mcnemar_exact(losses, wins), max_drop,
                            f"{losses} losses, {wins} wins among {len(drops)} pairs")
    if method != "bootstrap":
        raise ValueError(f"unknown test '{method}' (auto, mcnemar, bootstrap)")
    p = paired_bootstrap(drops, max_drop, n_resamples=n_resamples, seed=seed)
    return PairedResult("paired-bootstrap", len(drops), float(drops.mean()), p, max_drop,
                        f"{n_resamples} paired resamples of {len(drops)} pairs")
