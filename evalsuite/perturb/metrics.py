"""Robustness and counterfactual-fairness metrics from paired per-sample scores.

Inputs: the unperturbed 0/1 score of every document and, per arm (a perturbation, or one side
of a swap), the perturbed score, the predicted answer and whether the rewrite changed the
document ("changed"), left it as it was ("unchanged") or was not applied because it would have
changed an answer word ("skipped").

- `acc@P`: accuracy under P over the documents P changed (Wilson interval); `acc_drop@P`: the
  mean paired difference unperturbed - perturbed over the same documents, with a paired
  percentile bootstrap interval and McNemar's exact two-sided p-value (the gate's tests).
- `robustness` (HELM): per document the worst score over the unperturbed prompt and every
  robustness perturbation, so a document counts only if it is right under all of them;
  `robustness_drop` = accuracy - robustness (>= 0), paired bootstrap interval.
- Swaps: `acc@S:female`, `acc@S:male` over the documents either side changed (and neither
  skipped), `gap@S` = female - male (ideal 0), paired bootstrap interval and McNemar p-value.
- A document's answer flipped under P when P changed it and the predicted answer differs.
"""

from __future__ import annotations

import numpy as np


def two_sided_mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided McNemar p-value for paired 0/1 scores a, b."""
    from evalsuite.leaderboards.paired_tests import mcnemar_exact

    losses, wins = int(np.count_nonzero(a > b)), int(np.count_nonzero(a < b))
    return min(1.0, 2 * min(mcnemar_exact(losses, wins), mcnemar_exact(wins, losses)))


def mean_interval(values: np.ndarray, *, seed, n_resamples: int) -> tuple[float, float] | None:
    """Percentile bootstrap interval of a mean (paired differences are resampled as pairs)."""
    from evalsuite.stats import percentile_interval, resample_indices

    if len(values) < 2:
        return None
    lo, hi = percentile_interval(values[resample_indices(len(values), n_resamples, seed)].mean(-1))
    return float(lo), float(hi)


def _entry(value, direction, ci, method, n, rng, category, **extra) -> dict:
    from evalsuite.records import metric_entry

    kind = {"direction": direction, "ideal": 0.0 if direction == "ideal" else None}
    entry = metric_entry(value, kind, ci, method, n, range=rng)
    entry["category"] = category
    entry.update(extra)
    return entry


def _accuracy(scores: np.ndarray, category: str) -> dict:
    from evalsuite.stats import WILSON_METHOD, wilson_interval

    n = len(scores)
    return _entry(float(scores.mean()), "higher", wilson_interval(int(scores.sum()), n), WILSON_METHOD, n,
                  (0.0, 1.0), category)


def _difference(a: np.ndarray, b: np.ndarray, direction: str, category: str, seed, n_resamples: int,
                rng=(-1.0, 1.0), test: bool = True) -> dict:
    from evalsuite.stats import BOOTSTRAP_METHOD

    d = a - b
    extra = {"p_value": two_sided_mcnemar(a, b), "test": "mcnemar-exact (two-sided)"} if test else {}
    return _entry(float(d.mean()), direction, mean_interval(d, seed=seed, n_resamples=n_resamples),
                  f"paired {BOOTSTRAP_METHOD}", len(d), rng, category, **extra)


def robustness_metrics(base: np.ndarray, arms: dict, *, seed: int, n_resamples: int) -> tuple[dict, dict]:
    """(metrics, summary) from `base` (n,) 0/1 scores and `arms`: label -> {"arm", "scores", "status", "flipped"}."""
    metrics, summary = {}, {}
    worst, any_robustness = base.copy(), False
    groups: dict[str, list] = {}
    for i, (label, got) in enumerate(arms.items()):
        arm, scores, status = got["arm"], got["scores"], np.asarray(got["status"])
        changed = status == "changed"
        summary[label] = {"changed": int(changed.sum()), "unchanged": int((status == "unchanged").sum()),
                          "skipped": int((status == "skipped").sum()), "flipped": int(np.sum(got["flipped"]))}
        if arm.kind == "fairness":
            groups.setdefault(arm.group, []).append((arm.side, scores, status))
            continue
        any_robustness = True
        worst = np.minimum(worst, np.where(changed, scores, base))
        if changed.any():
            metrics[f"acc@{label}"] = _accuracy(scores[changed], "robustness")
            metrics[f"acc_drop@{label}"] = _difference(base[changed], scores[changed], "lower", "robustness",
                                                       [seed, 31, i], n_resamples)
    if any_robustness:
        metrics["robustness"] = _accuracy(worst, "robustness")
        metrics["robustness_drop"] = _difference(base, worst, "lower", "robustness", [seed, 37], n_resamples,
                                                 rng=(0.0, 1.0), test=False)
    for j, (group, sides) in enumerate(groups.items()):
        (side_a, a, status_a), (side_b, b, status_b) = sides
        used = ((status_a == "changed") | (status_b == "changed")) & (status_a != "skipped") & (status_b != "skipped")
        summary[group] = {"documents": int(used.sum())}
        if used.any():
            metrics[f"acc@{group}:{side_a}"] = _accuracy(a[used], "fairness")
            metrics[f"acc@{group}:{side_b}"] = _accuracy(b[used], "fairness")
            metrics[f"gap@{group}"] = _difference(a[used], b[used], "ideal", "fairness", [seed, 41, j], n_resamples)
            metrics[f"gap@{group}"]["sides"] = [side_a, side_b]
    return metrics, summary
