"""Faithfulness of an attribution, measured by perturbing the input the way the explanation says matters.

All metrics act on `score_keep(keep)`: the explained output for rows of a
boolean matrix over the attributable positions (True keeps the value, False
sets it to the baseline token or the feature's background mean). Order is by
signed score, most supporting first.

- comprehensiveness (ERASER, AOPC): mean over bins k in {1,5,10,20,50}% of
  f(x) - f(x without its top-k positions). Higher is better.
- sufficiency (ERASER, AOPC): mean over the same bins of f(x) - f(only the
  top-k kept). Lower is better.
- deletion AUC: area under f as positions are removed in order, the x axis the
  fraction removed (0..1). Lower is better. Insertion AUC: area under f as
  positions are restored in order onto the all-baseline input. Higher is better.
  Both are in the units of the explained output (probability or log-probability).
- infidelity (captum.metrics.infidelity): E[(I . phi - (f(x) - f(x - I)))^2]
  over random removals I (each position dropped with probability 1/2), with
  attributions rescaled by captum's optimal factor (normalize=True) so a
  method is not penalised for its scale alone. Lower is better.

A random attribution (standard normal scores, seeded) is scored on the same
inputs as a floor for comparison: every metric has its `random_baseline_` twin
with a bootstrap CI, and comprehensiveness and deletion AUC also get the paired
difference (method minus random on the same inputs, `_minus_random`) with its
own bootstrap CI, so "better than random" can be read off one interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

ERASER_BINS = (0.01, 0.05, 0.10, 0.20, 0.50)
PAIRED_WITH_RANDOM = ("comprehensiveness", "deletion_auc")
METRICS = ("comprehensiveness", "sufficiency", "deletion_auc", "insertion_auc", "infidelity")
MAX_CURVE_POINTS = 21
INFIDELITY_SAMPLES = 32


def top_k_counts(n: int, bins: Sequence[float] = ERASER_BINS) -> list[int]:
    """Positions in each bin: ceil(fraction * n), at least 1 (ERASER's top-k% with short inputs)."""
    return [max(1, min(n, math.ceil(f * n - 1e-9))) for f in bins]


def curve_counts(n: int, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """How many positions are changed at each point of a deletion/insertion curve (0..n)."""
    return np.unique(np.round(np.linspace(0, n, min(n, max_points - 1) + 1)).astype(int))


def _order(scores: np.ndarray) -> np.ndarray:
    # Stable sort on the negated score: ties keep input order, so results do not depend on numpy's sort kind.
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")


def _rows_removing(order: np.ndarray, counts: Sequence[int], n: int, keep_rest: bool) -> np.ndarray:
    """keep_rest=True: rows with the first c of `order` removed; False: rows with only those kept."""
    rows = np.full((len(counts), n), keep_rest, dtype=bool)
    for r, c in enumerate(counts):
        rows[r, order[:c]] = not keep_rest
    return rows


def faithfulness(score_keep: Callable[[np.ndarray], np.ndarray], scores: np.ndarray, *,
                 infidelity_samples: int = INFIDELITY_SAMPLES, seed: int = 0) -> dict[str, float]:
    """Every metric of this module for one input's attributable scores (one batched call for the curves)."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if n == 0:
        raise ValueError("an input with no attributable positions has no faithfulness to measure")
    order = _order(scores)
    bins, curve = top_k_counts(n), curve_counts(n)
    blocks = [np.ones((1, n), bool), _rows_removing(order, bins, n, True), _rows_removing(order, bins, n, False),
              _rows_removing(order, curve, n, True), _rows_removing(order, curve, n, False)]
    out = score_keep(np.concatenate(blocks))
    f_x, at = float(out[0]), 1
    removed, at = out[at:at + len(bins)], at + len(bins)
    kept_only, at = out[at:at + len(bins)], at + len(bins)
    deletion, at = out[at:at + len(curve)], at + len(curve)
    insertion = out[at:at + len(curve)]
    fraction = curve / n
    return {"comprehensiveness": float(np.mean(f_x - removed)),
            "sufficiency": float(np.mean(f_x - kept_only)),
            "deletion_auc": float(np.trapezoid(deletion, fraction)),
            "insertion_auc": float(np.trapezoid(insertion, fraction)),
            "infidelity": infidelity(score_keep, scores, n_samples=infidelity_samples, seed=seed)}


def infidelity(score_keep: Callable[[np.ndarray], np.ndarray], scores: np.ndarray, *, n_samples: int = 32,
               seed: int = 0) -> float:
    """captum.metrics.infidelity with random removals over a presence vector (1 = kept)."""
    import torch
    from captum.metrics import infidelity as captum_infidelity

    n = len(scores)
    generator = torch.Generator().manual_seed(seed)

    def forward(presence: torch.Tensor) -> torch.Tensor:
        keep = presence.detach().cpu().numpy() > 0.5
        return torch.as_tensor(score_keep(keep), dtype=torch.float64)

    def perturb(inputs: torch.Tensor):
        dropped = torch.rand(inputs.shape, generator=generator, dtype=torch.float64) < 0.5
        perturbed = inputs * (~dropped)
        return inputs - perturbed, perturbed

    presence = torch.ones((1, n), dtype=torch.float64)
    attributions = torch.as_tensor(scores, dtype=torch.float64).reshape(1, n)
    value = captum_infidelity(forward, perturb, presence, attributions, n_perturb_samples=n_samples,
                              max_examples_per_batch=n_samples, normalize=True)
    return float(value.reshape(-1)[0])


def random_scores(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def summarize(per_sample: list[dict[str, float]], *, resamples: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Mean of each per-sample metric with a bootstrap CI, as record metric entries with their direction."""
    from evalsuite.records import metric_entry
    from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci
    from evalsuite.task_types import HIGHER, LOWER

    directions = {"comprehensiveness": HIGHER, "sufficiency": LOWER, "deletion_auc": LOWER,
                  "insertion_auc": HIGHER, "infidelity": LOWER, "ig_convergence_delta": LOWER,
                  "shap_additivity_error": LOWER}
    metrics = {}
    names = [k for k in per_sample[0] if k.removeprefix("random_baseline_") in directions]
    for name in names:
        column = np.array([row[name] for row in per_sample], dtype=float)
        direction = directions[name.removeprefix("random_baseline_")]
        ci = bootstrap_ci({"v": column}, lambda c: c["v"].mean(axis=-1), n_resamples=resamples, seed=seed)
        ci = None if any(math.isnan(v) for v in ci) else ci
        metrics[name] = metric_entry(float(column.mean()), direction.to_json(), ci, BOOTSTRAP_METHOD, len(column))
    for name in PAIRED_WITH_RANDOM:
        if name in per_sample[0] and f"random_baseline_{name}" in per_sample[0]:
            column = np.array([row[name] - row[f"random_baseline_{name}"] for row in per_sample], dtype=float)
            ci = bootstrap_ci({"v": column}, lambda c: c["v"].mean(axis=-1), n_resamples=resamples, seed=seed)
            ci = None if any(math.isnan(v) for v in ci) else ci
            metrics[f"{name}_minus_random"] = metric_entry(float(column.mean()), directions[name].to_json(), ci,
                                                           BOOTSTRAP_METHOD, len(column))
    return metrics


def sample_metrics(score_keep, attribution, *, seed: int = 0, infidelity_samples: int = INFIDELITY_SAMPLES) -> dict:
    """The explainer's metrics, its axiom check, and the random baseline's metrics for one input."""
    scores = attribution.attributable_scores()
    row = faithfulness(score_keep, scores, seed=seed, infidelity_samples=infidelity_samples)
    if attribution.axiom is not None:
        row[attribution.axiom] = float(attribution.axiom_error)
    rand = faithfulness(score_keep, random_scores(len(scores), seed), seed=seed,
                        infidelity_samples=infidelity_samples)
    row.update({f"random_baseline_{k}": v for k, v in rand.items()})
    return row
