"""An empirical lower bound on epsilon from a membership attack (Jagielski et al. 2020, Nasr et al. 2021).

An (eps, delta)-DP training run forces every membership test to satisfy
TPR <= e^eps * FPR + delta and (1 - FPR) <= e^eps * (1 - TPR) + delta, so an
attack that does better proves eps >= max(log((TPR - delta) / FPR),
log((1 - FPR - delta) / (1 - TPR))). To make it a bound that holds with 95%
confidence rather than a point estimate, TPR is replaced by its one-sided
Clopper-Pearson lower bound and FPR by its upper bound, each at 97.5% (so both
hold together at 95%). The threshold is chosen on one seeded half of the
examples and the bound is computed on the other half: picking the best of many
thresholds on the same examples would overstate the bound. When the lower bound
exceeds the epsilon the accountant claimed, the training did not deliver its
guarantee (or the accounting is wrong): `dp_bound_violated` = 1.
"""

from __future__ import annotations

import math

import numpy as np


def clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """One-sided Clopper-Pearson (lower, upper) bounds, each holding with probability `confidence`."""
    from scipy.stats import beta

    alpha = 1 - confidence
    lower = 0.0 if successes == 0 else float(beta.ppf(alpha, successes, trials - successes + 1))
    upper = 1.0 if successes == trials else float(beta.ppf(1 - alpha, successes + 1, trials - successes))
    return lower, upper


def epsilon_from_rates(tpr: float, fpr: float, delta: float) -> float:
    """max(log((TPR - delta) / FPR), log((1 - FPR - delta) / (1 - TPR))), 0 when neither is positive."""
    best = 0.0
    if tpr - delta > 0:
        best = max(best, math.inf if fpr <= 0 else math.log((tpr - delta) / fpr))
    if 1 - fpr - delta > 0:
        best = max(best, math.inf if tpr >= 1 else math.log((1 - fpr - delta) / (1 - tpr)))
    return best


def bound_at_threshold(scores, members, threshold: float, delta: float, confidence: float) -> dict:
    scores, members = np.asarray(scores, float), np.asarray(members, int)
    pos, neg = scores[members == 1], scores[members == 0]
    tp, fp = int(np.sum(pos > threshold)), int(np.sum(neg > threshold))
    tpr_lo, _ = clopper_pearson(tp, len(pos), confidence)
    _, fpr_hi = clopper_pearson(fp, len(neg), confidence)
    # Conservative in both directions: the first ratio uses the lowest TPR and highest FPR, the second
    # the lowest 1-FPR and highest 1-TPR (= 1 - the lowest TPR).
    eps = epsilon_from_rates(tpr_lo, fpr_hi, delta)
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "n_members": len(pos), "n_nonmembers": len(neg),
            "tpr_lower": tpr_lo, "fpr_upper": fpr_hi, "epsilon_lower_bound": eps}


def empirical_epsilon(scores, members, delta: float, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """The 95% lower bound on epsilon: threshold picked on one half, bound computed on the other."""
    scores, members = np.asarray(scores, float), np.asarray(members, int)
    rng = np.random.default_rng(seed)
    pick = np.zeros(len(scores), dtype=bool)
    for label in (0, 1):  # stratified halves, so both keep members and non-members
        idx = np.flatnonzero(members == label)
        pick[rng.permutation(idx)[: len(idx) // 2]] = True
    per_side = 1 - (1 - confidence) / 2
    unique = np.unique(scores[pick])
    # Midpoints between neighbouring scores: a threshold inside a gap generalizes to the other half
    # better than one sitting on an observed score.
    candidates = np.concatenate([[-np.inf], (unique[:-1] + unique[1:]) / 2])
    best_threshold, best = -np.inf, -1.0
    for t in candidates:
        point = _point_epsilon(scores[pick], members[pick], t, delta)
        if point > best:
            best_threshold, best = t, point
    result = bound_at_threshold(scores[~pick], members[~pick], best_threshold, delta, per_side)
    result.update(confidence=confidence, method="clopper-pearson, threshold chosen on a held-out half")
    return result


def _point_epsilon(scores, members, threshold, delta) -> float:
    pos, neg = scores[members == 1], scores[members == 0]
    if len(pos) == 0 or len(neg) == 0:
        return 0.0
    # +0.5 smoothing keeps perfect splits finite so the search can still rank thresholds.
    tpr = (np.sum(pos > threshold) + 0.5) / (len(pos) + 1)
    fpr = (np.sum(neg > threshold) + 0.5) / (len(neg) + 1)
    return epsilon_from_rates(float(tpr), float(fpr), delta)


def dp_sanity(tpr: float, fpr: float, epsilon: float, delta: float) -> bool:
    """True when an operating point respects TPR <= e^eps * FPR + delta."""
    return tpr <= math.exp(epsilon) * fpr + delta + 1e-12


def perfect_split_bound(n_members: int, n_nonmembers: int, delta: float, confidence: float = 0.95) -> float:
    """The bound `empirical_epsilon` gives a perfect attack (every member above every non-member) at these sizes:
    the audit's power. The bound is computed on the half the threshold was not chosen on."""
    n_pos, n_neg = n_members - n_members // 2, n_nonmembers - n_nonmembers // 2
    if n_pos <= 0 or n_neg <= 0:
        return 0.0
    per_side = 1 - (1 - confidence) / 2
    tpr_lo, _ = clopper_pearson(n_pos, n_pos, per_side)
    _, fpr_hi = clopper_pearson(0, n_neg, per_side)
    return epsilon_from_rates(tpr_lo, fpr_hi, delta)
