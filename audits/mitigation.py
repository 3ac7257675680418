"""Bias mitigations the tabular audit applies and audits again, side by side with the unmitigated model.

- Reweighing (pre-processing, Kamiran & Calders): aif360's `Reweighing` gives each
  (group, label) cell the weight P(group) P(label) / P(group, label), with the reference
  group as aif360's privileged group and every other group unprivileged; a clone of the
  scikit-learn estimator is refitted with those sample weights. An unweighted refit of
  the same clone on the same rows is reported beside it, so the table separates the effect
  of the weights from the effect of refitting on a different split.
- Group thresholds (post-processing): one decision threshold per group on the model's
  favorable-class score, chosen on a calibration split so that every group reaches the
  same target rate, the overall rate of the unmitigated model on that split. The target
  is the selection rate (demographic parity) or the true positive rate (equal opportunity).
"""

from __future__ import annotations

import numpy as np

from evalsuite.errors import UserError

MITIGATIONS = ("reweighing", "thresholds")
THRESHOLD_TARGETS = ("selection_rate", "tpr")


def split_rows(strata: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask choosing `fraction` of the rows of every stratum (at least one row each side when possible)."""
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(strata), dtype=bool)
    for value in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == value))
        take = int(round(fraction * len(rows)))
        if len(rows) >= 2:
            take = min(max(take, 1), len(rows) - 1)
        chosen[rows[:take]] = True
    return chosen


def reweighing_weights(y: np.ndarray, groups: np.ndarray, reference: int) -> np.ndarray:
    """aif360 Reweighing instance weights with `reference` privileged and every other group unprivileged."""
    import pandas as pd

    from evalsuite.audits.fairness_metrics import quiet_aif360

    with quiet_aif360():
        from aif360.algorithms.preprocessing import Reweighing
        from aif360.datasets import BinaryLabelDataset

        privileged = (np.asarray(groups) == reference).astype(float)
        frame = pd.DataFrame({"privileged": privileged, "y": np.asarray(y, dtype=float)})
        dataset = BinaryLabelDataset(df=frame, label_names=["y"], protected_attribute_names=["privileged"],
                                     favorable_label=1.0, unfavorable_label=0.0)
        transformed = Reweighing(unprivileged_groups=[{"privileged": 0.0}],
                                 privileged_groups=[{"privileged": 1.0}]).fit_transform(dataset)
    return np.asarray(transformed.instance_weights, dtype=float)


def refit(estimator, features, labels, sample_weight=None):
    """A fitted clone of `estimator`; with `sample_weight` when given."""
    from sklearn.base import clone

    model = clone(estimator)
    if sample_weight is None:
        return model.fit(features, labels)
    # A Pipeline routes fit parameters by step name; the weights belong to its final estimator.
    key = f"{model.steps[-1][0]}__sample_weight" if hasattr(model, "steps") else "sample_weight"
    try:
        return model.fit(features, labels, **{key: sample_weight})
    except (TypeError, ValueError) as exc:
        if "sample_weight" in str(exc):
            raise UserError(f"{type(estimator).__name__} does not accept sample_weight, so reweighing cannot "
                            "refit it; use --mitigate thresholds") from None
        raise


def fit_group_thresholds(scores: np.ndarray, y: np.ndarray, groups: np.ndarray, n_groups: int,
                         target_rate: float, target: str = "selection_rate") -> np.ndarray:
    """Per-group thresholds t_g so that mean(score >= t_g) over the target rows of g is as close to target_rate.

    Target rows are the whole group for "selection_rate" and its positives for "tpr". A group
    with no target rows keeps threshold 0.5.
    """
    if target not in THRESHOLD_TARGETS:
        raise UserError(f"threshold target '{target}' is unknown; use one of {', '.join(THRESHOLD_TARGETS)}")
    thresholds = np.full(n_groups, 0.5)
    for g in range(n_groups):
        rows = (groups == g) if target == "selection_rate" else (groups == g) & (y == 1)
        ranked = np.sort(scores[rows])[::-1]
        if len(ranked) == 0:
            continue
        k = int(round(target_rate * len(ranked)))
        # Selecting the top k scores: the threshold is the k-th highest, or above the maximum for k = 0.
        thresholds[g] = np.nextafter(ranked[0], np.inf) if k == 0 else ranked[k - 1]
    return thresholds


def apply_group_thresholds(scores: np.ndarray, groups: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return (np.asarray(scores) >= thresholds[np.asarray(groups)]).astype(float)
