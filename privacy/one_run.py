"""One-run privacy auditing (Steinke, Nasr and Jagielski, "Privacy Auditing with One (1) Training Run",
NeurIPS 2023, arXiv 2305.08846) and the power of an audit.

m audit canaries are each put in the training data with probability 1/2, by independent
fair coins, before training; after training the auditor ranks them by an attack score,
guesses the k highest "in" and the k lowest "out" (r = 2k guesses) and counts the v it
got right. Under (eps, delta)-DP, v is (up to the delta term) no more likely to be large
than Binomial(r, e^eps / (1 + e^eps)): `p_value` is the paper's Appendix D test and
`epsilon_lower_bound` its bisection for the largest eps the count rejects. One training
run gives the bound, and every canary counts (no half is spent choosing a threshold).

k is not chosen by looking at the coins: the bound is computed for each k in a fixed grid
at level (1 - confidence) / len(grid) (Bonferroni), and the largest is reported, so the
reported bound holds at `confidence` as a whole.

Power: `perfect_bound` is what a perfect attack (every guess right) would certify with the
same canaries, grid and confidence. A bound of 0 from an audit whose perfect bound is small
says nothing about privacy: the audit had no power, and the record says so.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

GUESS_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)  # of the m canaries, half guessed in, half out
METHOD = "one-run (Steinke, Nasr, Jagielski 2023), Bonferroni over guess counts"


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """P[>= v of r guesses right] under (eps, delta)-DP with m canaries (the paper's Appendix D)."""
    from scipy.stats import binom

    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    q = 1 / (1 + math.exp(-eps))  # accuracy of eps-DP randomized response
    beta = float(binom.sf(v - 1, r, q))  # P[Binomial(r, q) >= v]
    alpha = 0.0
    if v > 0:  # alpha = max over i of P[v > Binomial(r, q) >= v - i] / i (the paper's loop, vectorized)
        totals = np.cumsum(binom.pmf(np.arange(v - 1, -1, -1), r, q))
        alpha = float(np.max(totals / np.arange(1, v + 1)))
    return min(beta + alpha * delta * 2 * m, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, p: float) -> float:
    """The largest eps (to ~1e-9) whose p-value is below p; 0 when even eps=0 is not rejected."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p_value(m, r, v, 0.0, delta) >= p:
        return 0.0
    lo, hi = 0.0, 1.0  # p_value(lo) < p <= p_value(hi)
    while p_value(m, r, v, hi, delta) < p:
        lo, hi = hi, hi + 1.0
        if hi > 60:  # e^60: no finite audit certifies this; treat as the bracket's end
            return lo
    for _ in range(30):  # the paper's 30 bisection steps: 1e-9 of a unit bracket
        mid = (lo + hi) / 2
        if p_value(m, r, v, mid, delta) < p:
            lo = mid
        else:
            hi = mid
    return lo


def guess_counts(m: int) -> list[int]:
    """k (guesses per side) for each fraction of the grid, distinct and with 2k <= m."""
    return sorted({max(1, min(m // 2, int(round(f * m / 2)))) for f in GUESS_FRACTIONS}) if m >= 2 else []


def one_run_bound(scores, included, delta: float, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """The one-run lower bound on eps from attack `scores` (higher = more likely in) of canaries whose
    coins were `included`; with the bound a perfect attack would get (the audit's power)."""
    scores, included = np.asarray(scores, float), np.asarray(included, bool)
    m = len(scores)
    ks = guess_counts(m)
    if not ks:
        return {"method": METHOD, "m": m, "epsilon_lower_bound": 0.0, "perfect_bound": 0.0, "rows": []}
    p = (1 - confidence) / len(ks)
    # Ties are broken by a seeded shuffle, never by the canaries' order.
    order = np.random.default_rng(seed).permutation(m)
    ranked = order[np.argsort(-scores[order], kind="stable")]
    rows = _rows(ranked, included, ks, delta, p)
    best = max(rows, key=lambda row: row["epsilon_lower_bound"])
    # The power: the same tests on a perfect attack's ranking of these very coins (every "in" above every "out").
    perfect = _rows(np.argsort(~included, kind="stable"), included, ks, delta, p)
    return {"method": METHOD, "m": m, "n_in": int(included.sum()), "confidence": confidence, "delta": delta,
            "level_per_k": p, "epsilon_lower_bound": best["epsilon_lower_bound"], "best_k": best["k"],
            "correct": best["v"], "guesses": best["r"],
            "perfect_bound": max(row["epsilon_lower_bound"] for row in perfect), "rows": rows}


def _rows(ranked, included, ks, delta: float, p: float) -> list[dict]:
    m, rows = len(ranked), []
    for k in ks:
        top, bottom = ranked[:k], ranked[m - k:]
        v = int(included[top].sum() + (~included[bottom]).sum())
        rows.append({"k": k, "r": 2 * k, "v": v, "epsilon_lower_bound": epsilon_lower_bound(m, 2 * k, v, delta, p)})
    return rows


@lru_cache(maxsize=4096)
def perfect_bound(m: int, delta: float, confidence: float = 0.95) -> float:
    """What the one-run audit of m canaries certifies when every guess is right (half of them in: the most any
    draw of the coins allows); to size an audit before its coins are drawn."""
    ks = guess_counts(m)
    if not ks:
        return 0.0
    p = (1 - confidence) / len(ks)
    return max(epsilon_lower_bound(m, 2 * k, 2 * k, delta, p) for k in ks)


def canaries_needed(epsilon: float, delta: float, confidence: float = 0.95, limit: int = 1 << 15) -> int | None:
    """The fewest canaries (on a x1.5 grid) whose perfect one-run audit certifies more than `epsilon`; None when
    none up to `limit` does (the delta term 2*m*delta grows with m, so more canaries do not always help)."""
    m = 16
    while m <= limit:
        if perfect_bound(m, delta, confidence) > epsilon:
            return m
        m = int(m * 1.5)
    return None
