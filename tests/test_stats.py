"""Bootstrap confidence intervals against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalsuite.metrics import perplexity
from evalsuite.stats import bootstrap_ci


def test_bootstrap_ci_of_a_proportion_matches_the_normal_interval():
    x = np.array([1.0] * 300 + [0.0] * 700)
    lo, hi = bootstrap_ci({"x": x}, lambda c: c["x"].mean(axis=-1), n_resamples=4000, seed=1)
    half = 1.96 * math.sqrt(0.3 * 0.7 / 1000)
    assert lo == pytest.approx(0.3 - half, abs=0.006)
    assert hi == pytest.approx(0.3 + half, abs=0.006)


def test_bootstrap_ci_of_a_constant_is_degenerate_and_of_one_sample_undefined():
    assert bootstrap_ci({"x": np.ones(50)}, lambda c: c["x"].mean(axis=-1)) == (1.0, 1.0)
    lo, hi = bootstrap_ci({"x": np.ones(1)}, lambda c: c["x"].mean(axis=-1))
    assert math.isnan(lo) and math.isnan(hi)


def test_perplexity_is_a_ratio_of_sums_not_a_mean_of_ratios():
    columns = {"logprob": np.array([-10.0, -2.0]), "n_tokens": np.array([10.0, 1.0])}
    assert float(perplexity(columns)) == pytest.approx(math.exp(12 / 11))
