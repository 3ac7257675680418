"""Metric formulas against DESIGN.md's oracle, aif360 itself, fairlearn, and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite.audits.fairness_metrics import (aif360_pairwise, group_fairness, group_rates, metrics_from_rates,
                                               theil_index)
from evalsuite.stats import resample_indices

# DESIGN.md's fairness oracle (privileged a=1).
A = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
Y = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 1])
YHAT = np.array([1, 1, 1, 0, 1, 1, 0, 1, 0, 0])


def test_design_oracle_through_aif360_and_numpy():
    gf = group_fairness(Y, YHAT, A, ["a=0", "a=1"], reference=1, attribute="a", n_resamples=50)
    assert gf.metrics["statistical_parity_difference"] == pytest.approx(-0.4)
    assert gf.metrics["disparate_impact"] == pytest.approx(0.5)
    assert gf.metrics["equal_opportunity_difference"] == pytest.approx(-0.5)
    assert gf.metrics["average_odds_difference"] == pytest.approx(-1 / 3)
    assert gf.pairwise[0]["theil_index"] == pytest.approx(0.1567433, abs=1e-7)
    assert theil_index(Y, YHAT) == pytest.approx(0.1567433, abs=1e-7)
    numpy_path = metrics_from_rates(group_rates(Y, YHAT, A, 2), reference=1)
    for key in ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                "average_odds_difference"):
        assert float(numpy_path[key]) == pytest.approx(gf.metrics[key])
    # Equalized odds (fairlearn's definition): max(|ΔTPR|, |ΔFPR|) = max(|0.5-1|, |1/3-1/2|).
    assert gf.metrics["equalized_odds_difference"] == pytest.approx(0.5)


def test_numpy_bootstrap_formulas_match_aif360_on_random_multigroup_data():
    rng = np.random.default_rng(3)
    n, k = 400, 4
    groups = rng.integers(0, k, n)
    y = (rng.random(n) < 0.3 + 0.1 * groups).astype(float)
    y_pred = (rng.random(n) < 0.2 + 0.15 * groups).astype(float)
    rates = group_rates(y, y_pred, groups, k)
    for reference in range(k):
        for row in aif360_pairwise(y, y_pred, groups, k, reference):
            one = metrics_from_rates({key: v[[row["group"], reference]] for key, v in rates.items()}, reference=1)
            for key in ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                        "average_odds_difference"):
                assert float(one[key]) == pytest.approx(row[key], rel=1e-12, abs=1e-12)
            assert row["theil_index"] == pytest.approx(float(theil_index(y, y_pred)), rel=1e-12)


def test_rates_and_unsigned_differences_match_fairlearn():
    from fairlearn.metrics import (MetricFrame, demographic_parity_difference, demographic_parity_ratio,
                                   equalized_odds_difference, false_positive_rate, selection_rate,
                                   true_positive_rate)

    rng = np.random.default_rng(5)
    n = 600
    groups = rng.integers(0, 3, n)
    y = (rng.random(n) < 0.5).astype(int)
    y_pred = (rng.random(n) < 0.25 + 0.2 * groups).astype(int)
    frame = MetricFrame(metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                        y_true=y, y_pred=y_pred, sensitive_features=groups)
    rates = group_rates(y, y_pred, groups, 3)
    np.testing.assert_allclose(rates["selection_rate"], frame.by_group["sel"].to_numpy())
    np.testing.assert_allclose(rates["tpr"], frame.by_group["tpr"].to_numpy())
    np.testing.assert_allclose(rates["fpr"], frame.by_group["fpr"].to_numpy())
    gf = group_fairness(y, y_pred, groups, ["g0", "g1", "g2"], reference=2, attribute="g", n_resamples=20)
    assert gf.metrics["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, y_pred, sensitive_features=groups))
    # Group 2 selects most; the worst pair against it is fairlearn's unsigned max-min, with a minus sign.
    assert gf.metrics["statistical_parity_difference"] == pytest.approx(
        -demographic_parity_difference(y, y_pred, sensitive_features=groups))
    assert gf.metrics["disparate_impact"] == pytest.approx(
        demographic_parity_ratio(y, y_pred, sensitive_features=groups))


def test_stratified_bootstrap_keeps_group_sizes_and_ci_brackets_value():
    groups = np.array([0] * 7 + [1] * 3 + [2] * 20)
    idx = resample_indices(len(groups), 200, seed=1, strata=groups)
    assert idx.shape == (200, 30)
    assert all((np.bincount(groups[row], minlength=3) == [7, 3, 20]).all() for row in idx)
    rng = np.random.default_rng(0)
    g = rng.integers(0, 2, 2000)
    y = rng.integers(0, 2, 2000)
    y_pred = (rng.random(2000) < np.where(g == 1, 0.6, 0.4)).astype(int)
    gf = group_fairness(y, y_pred, g, ["g=0", "g=1"], reference=1, attribute="g", n_resamples=400)
    lo, hi = gf.metric_cis["statistical_parity_difference"]
    assert lo < gf.metrics["statistical_parity_difference"] < hi < 0  # planted gap of -0.2: CI excludes 0
    assert lo < -0.2 < hi


def test_perfect_predictions_have_zero_theil_and_equal_rates():
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert theil_index(y, y) == pytest.approx(0.0)
    gf = group_fairness(y, y, groups, ["a", "b"], reference=1, attribute="x", n_resamples=20)
    assert gf.metrics["equal_opportunity_difference"] == 0.0
    assert gf.metrics["equalized_odds_difference"] == 0.0
