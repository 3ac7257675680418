"""Paired regression tests against independent oracles: scipy's exact binomial test and the t-test.

Also the property a release gate needs: two samples of the same model quality (noise) fail at most at
rate alpha, while a planted regression fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalsuite.leaderboards.paired_tests import mcnemar_exact, paired_bootstrap, paired_regression_test


@pytest.mark.parametrize("losses,wins", [(0, 0), (5, 0), (3, 7), (12, 5), (30, 30), (1200, 1100)])
def test_mcnemar_matches_scipy_exact_binomial(losses, wins):
    expected = 1.0 if losses + wins == 0 else stats.binomtest(losses, losses + wins, 0.5, alternative="greater").pvalue
    assert mcnemar_exact(losses, wins) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_mcnemar_counts_only_discordant_pairs():
    base = np.array([1, 1, 1, 0, 0, 1, 1, 0])
    cand = np.array([1, 0, 0, 0, 1, 1, 0, 0])  # 3 losses (idx 1, 2, 6), 1 win (idx 4)
    result = paired_regression_test(base, cand, direction="higher", max_drop=0.0)
    assert result.method == "mcnemar-exact"
    assert result.p_value == pytest.approx(stats.binomtest(3, 4, 0.5, alternative="greater").pvalue)
    assert result.mean_drop == pytest.approx(2 / 8)


@pytest.mark.parametrize("shift,margin", [(0.0, 0.0), (0.05, 0.0), (0.05, 0.05), (0.12, 0.05), (-0.03, 0.0)])
def test_paired_bootstrap_agrees_with_t_test(shift, margin):
    """For a mean of 600 continuous differences the bootstrap and t-test p-values nearly coincide."""
    drops = np.random.default_rng(7).normal(shift, 0.5, size=600)
    expected = stats.ttest_1samp(drops, margin, alternative="greater").pvalue
    assert paired_bootstrap(drops, margin, n_resamples=20_000, seed=1) == pytest.approx(expected, abs=0.02)


def test_lower_is_better_drop_is_an_increase():
    rng = np.random.default_rng(3)
    base = rng.normal(2.0, 0.3, 400)
    worse = base + 0.2 + rng.normal(0, 0.05, 400)  # perplexity-like: higher is worse
    assert paired_regression_test(base, worse, direction="lower", max_drop=0.05).p_value < 0.001
    assert paired_regression_test(base, base - 0.2, direction="lower", max_drop=0.0).p_value > 0.5


def test_noise_alone_fails_at_most_alpha_while_a_naive_comparison_fails_half_the_time():
    """Same quality, independent re-scoring: the paired test rejects at <= alpha; 'mean went down' at ~50%."""
    alpha, n, trials = 0.05, 300, 200
    rng = np.random.default_rng(11)
    paired_fails = naive_fails = 0
    for _ in range(trials):
        skill = rng.random(n)  # per-question difficulty shared by both scorings
        base = (rng.random(n) < skill).astype(float)
        cand = (rng.random(n) < skill).astype(float)
        paired_fails += paired_regression_test(base, cand, direction="higher", max_drop=0.0).rejects(alpha)
        naive_fails += cand.mean() < base.mean()
    assert paired_fails / trials <= alpha + 0.02
    assert naive_fails / trials > 0.35


def test_noise_with_a_margin_passes_the_bootstrap():
    rng = np.random.default_rng(5)
    fails = 0
    for _ in range(40):
        skill = rng.random(300)
        base, cand = ((rng.random(300) < skill).astype(float) for _ in range(2))
        fails += paired_regression_test(base, cand, direction="higher", max_drop=0.02, n_resamples=2000,
                                        seed=int(rng.integers(1 << 30))).rejects(0.05)
    assert fails <= 1


def test_planted_regression_fails_both_tests():
    rng = np.random.default_rng(2)
    base = (rng.random(400) < 0.8).astype(float)
    cand = base.copy()
    correct = np.flatnonzero(base == 1)
    cand[rng.choice(correct, size=int(0.15 * len(correct)), replace=False)] = 0  # a 12-point drop
    assert paired_regression_test(base, cand, direction="higher", max_drop=0.0).p_value < 1e-6
    assert paired_regression_test(base, cand, direction="higher", max_drop=0.05, n_resamples=5000).rejects(0.05)
    # ... but not when the allowance covers it
    assert not paired_regression_test(base, cand, direction="higher", max_drop=0.2, n_resamples=5000).rejects(0.05)


def test_mcnemar_refuses_a_margin_and_non_binary_scores():
    with pytest.raises(ValueError, match="max_drop 0"):
        paired_regression_test(np.ones(5), np.ones(5), direction="higher", max_drop=0.1, method="mcnemar")
    with pytest.raises(ValueError, match="0/1"):
        paired_regression_test(np.full(5, 0.5), np.ones(5), direction="higher", max_drop=0, method="mcnemar")
    with pytest.raises(ValueError, match="higher- or lower"):
        paired_regression_test(np.ones(5), np.ones(5), direction="ideal", max_drop=0)
