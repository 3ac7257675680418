"""Attack statistics against independent references: sklearn's AUC, a slow threshold sweep, scipy's
exact binomial intervals, closed-form epsilon bounds, and the exposure of unmemorized canaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalsuite.privacy.canaries import (CHANCE_EXPOSURE_BITS, exposure_from_losses, format_size,
                                        random_candidates, split_canary)
from evalsuite.privacy.empirical_eps import clopper_pearson, dp_sanity, empirical_epsilon, epsilon_from_rates
from evalsuite.privacy.mia import attack_metrics, auc_reducer, tpr_at_fpr


def planted(n_pos, n_neg, shift, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)])
    if ties:
        scores = np.round(scores, 1)
    return scores, np.array([1] * n_pos + [0] * n_neg)


@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_sklearn_including_ties(ties):
    from sklearn.metrics import roc_auc_score

    scores, members = planted(60, 80, 0.7, ties=ties)
    assert float(auc_reducer({"score": scores, "member": members})) == pytest.approx(roc_auc_score(members, scores))


def test_auc_works_row_wise_on_bootstrap_matrices():
    from sklearn.metrics import roc_auc_score

    rows = [planted(20, 20, s, seed=i) for i, s in enumerate((0.0, 1.0, 3.0))]
    got = auc_reducer({"score": np.stack([r[0] for r in rows]), "member": np.stack([r[1] for r in rows])})
    np.testing.assert_allclose(got, [roc_auc_score(m, s) for s, m in rows])


def slow_tpr_at_fpr(scores, members, fpr):
    best = 0.0
    for t in np.concatenate([[-np.inf], np.unique(scores)]):
        pred = scores > t
        if pred[members == 0].mean() <= fpr:
            best = max(best, pred[members == 1].mean())
    return best


@pytest.mark.parametrize("fpr", [0.0, 0.001, 0.01, 0.1, 0.5])
def test_tpr_at_fpr_matches_a_threshold_sweep(fpr):
    scores, members = planted(150, 300, 1.0, ties=True)
    assert tpr_at_fpr(scores, members, fpr) == pytest.approx(slow_tpr_at_fpr(scores, members, fpr))


def test_attack_metrics_say_when_non_members_are_too_few_for_low_fpr():
    scores, members = planted(50, 120, 2.0)
    metrics, notes = attack_metrics(scores, members, prefix="mia_", n_resamples=200, seed=0)
    assert metrics["mia_auc"]["ideal"] == 0.5 and metrics["mia_auc"]["direction"] == "ideal"
    lo, hi = metrics["mia_auc"]["ci"]
    assert lo < metrics["mia_auc"]["value"] < hi
    assert "1000 non-members" in notes["tpr_at_fpr_0.001"] and "tpr_at_fpr_0.01" not in notes


@pytest.mark.parametrize("k, n", [(0, 20), (3, 20), (20, 20), (37, 100)])
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    from scipy.stats import binomtest

    # A two-sided 90% exact interval has one-sided 95% bounds at each end.
    ci = binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact")
    lower, upper = clopper_pearson(k, n, 0.95)
    assert lower == pytest.approx(ci.low, abs=1e-9) and upper == pytest.approx(ci.high, abs=1e-9)


def test_epsilon_from_rates_closed_forms():
    assert epsilon_from_rates(0.5, 0.05, 0.0) == pytest.approx(math.log(10))
    assert epsilon_from_rates(0.9, 0.5, 0.0) == pytest.approx(math.log(0.5 / 0.1))  # the second ratio wins
    assert epsilon_from_rates(0.3, 0.3, 0.0) == 0.0
    assert dp_sanity(0.1, 0.05, math.log(2), 0.0) and not dp_sanity(0.2, 0.05, math.log(2), 0.0)


def test_empirical_epsilon_finds_a_leak_and_not_a_non_leak():
    separated = empirical_epsilon(*planted(500, 500, 8.0), delta=1e-5)
    # Perfect separation on 250/250 held-out examples: CP(250/250) lower over CP(0/250) upper.
    lo, _ = clopper_pearson(250, 250, 0.975)
    _, hi = clopper_pearson(0, 250, 0.975)
    assert separated["epsilon_lower_bound"] == pytest.approx(math.log((lo - 1e-5) / hi), rel=1e-6)
    for seed in range(5):
        same = empirical_epsilon(*planted(300, 300, 0.0, seed=seed), delta=1e-5, seed=seed)
        assert same["epsilon_lower_bound"] < 0.3


def test_exposure_estimate_and_chance_level():
    assert exposure_from_losses(0.1, np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)  # rank 1 of 4
    assert exposure_from_losses(9.0, np.array([1.0, 2.0, 3.0])) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    # An unmemorized canary is one more draw from the candidates' distribution: mean exposure ~ 1/ln 2.
    draws = [exposure_from_losses(rng.normal(), rng.normal(size=999)) for _ in range(3000)]
    assert np.mean(draws) == pytest.approx(CHANCE_EXPOSURE_BITS, abs=0.08)


def test_candidate_space_follows_the_canary_format():
    from evalsuite.demo.corpus import make_canaries

    canary = make_canaries(1, seed=3)[0]
    prefix, secret = split_canary(canary)
    assert prefix == "my secret code is" and format_size(secret) == 9000 * 9000
    cands = random_candidates(secret, 500, seed=1, exclude={secret})
    assert len(set(cands)) == 500 and secret not in cands
    assert all(len(c) == 9 and c[4] == "-" and c[0] != "0" and c[5] != "0" for c in cands)
