"""Faithfulness metrics against a hand-computed oracle on an additive model, and the OOM retry."""

from __future__ import annotations

import math

import numpy as np

from evalsuite.audits.explain.faithfulness import curve_counts, faithfulness, summarize, top_k_counts


def _additive(w):
    """f(keep) = sum of the kept weights: removing position i changes f by exactly w[i]."""
    return lambda keep: np.asarray(keep, dtype=float) @ w


def test_eraser_bins_and_curve_points():
    assert top_k_counts(10) == [1, 1, 1, 2, 5]
    assert top_k_counts(200) == [2, 10, 20, 40, 100]
    assert list(curve_counts(4)) == [0, 1, 2, 3, 4]
    assert curve_counts(100)[0] == 0 and curve_counts(100)[-1] == 100 and len(curve_counts(100)) == 21


def test_metrics_match_a_hand_computed_oracle_on_an_additive_model():
    rng = np.random.default_rng(3)
    n = 10
    w = rng.normal(size=n)
    scores = w + 0.01 * rng.normal(size=n)  # same order as w, not the same values
    got = faithfulness(_additive(w), scores, seed=0)

    # The oracle: loops over the definitions, written independently of the module.
    ranked = sorted(range(n), key=lambda i: -scores[i])
    total = w.sum()
    ks = [max(1, math.ceil(f * n - 1e-9)) for f in (0.01, 0.05, 0.1, 0.2, 0.5)]
    comp = np.mean([sum(w[i] for i in ranked[:k]) for k in ks])
    suff = np.mean([total - sum(w[i] for i in ranked[:k]) for k in ks])
    deletion = [total - sum(w[i] for i in ranked[:k]) for k in range(n + 1)]
    insertion = [sum(w[i] for i in ranked[:k]) for k in range(n + 1)]
    auc = lambda ys: sum((ys[k] + ys[k + 1]) / 2 / n for k in range(n))  # trapezoids of width 1/n
    assert abs(got["comprehensiveness"] - comp) < 1e-12
    assert abs(got["sufficiency"] - suff) < 1e-12
    assert abs(got["deletion_auc"] - auc(deletion)) < 1e-12
    assert abs(got["insertion_auc"] - auc(insertion)) < 1e-12
    # The exact additive attribution (scores = w) is perfectly faithful under captum's infidelity.
    assert faithfulness(_additive(w), w, seed=0)["infidelity"] < 1e-20


def test_exact_attribution_beats_random_on_every_metric_in_expectation():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(20):
        w = rng.normal(size=12)
        exact = faithfulness(_additive(w), w, seed=seed)
        rand = faithfulness(_additive(w), rng.normal(size=12), seed=seed)
        rows.append({**exact, **{f"random_baseline_{k}": v for k, v in rand.items()}})
    metrics = summarize(rows, resamples=200)
    assert metrics["comprehensiveness"]["value"] > metrics["random_baseline_comprehensiveness"]["value"]
    assert metrics["sufficiency"]["value"] < metrics["random_baseline_sufficiency"]["value"]
    assert metrics["deletion_auc"]["value"] < metrics["random_baseline_deletion_auc"]["value"]
    assert metrics["insertion_auc"]["value"] > metrics["random_baseline_insertion_auc"]["value"]
    assert metrics["infidelity"]["value"] < metrics["random_baseline_infidelity"]["value"]
    assert metrics["comprehensiveness"]["direction"] == "higher"
    assert metrics["sufficiency"]["direction"] == "lower" and metrics["infidelity"]["n"] == 20
    lo, hi = metrics["comprehensiveness"]["ci"]
    assert lo <= metrics["comprehensiveness"]["value"] <= hi


def test_out_of_memory_batch_is_retried_at_half_size():
    import pytest

    from evalsuite.audits.explain.batching import with_oom_retry
    from evalsuite.errors import UserError

    tried = []

    def fn(size):
        tried.append(size)
        if size > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return size

    assert with_oom_retry(fn, 16) == 2 and tried == [16, 8, 4, 2]
    with pytest.raises(UserError, match="out of memory with a batch of one"):
        with_oom_retry(lambda size: (_ for _ in ()).throw(MemoryError("out of memory")), 4)
    with pytest.raises(ValueError):  # other errors are bugs, not retried
        with_oom_retry(lambda size: (_ for _ in ()).throw(ValueError("shape")), 4)
