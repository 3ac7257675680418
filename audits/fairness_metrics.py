"""Group fairness metrics for a binary decision: per-group rates, aif360 metrics, bootstrap CIs.

Inputs are already encoded: `y` and `y_pred` are 0/1 with 1 the favorable outcome,
`groups` holds one integer code per row (one protected attribute, or an intersection
of several, see `tabular_audit`), and `reference` is the code of the privileged group.

Definitions (aif360's; "unpriv" is a non-reference group, "priv" the reference):

- statistical_parity_difference = P(ŷ=1 | unpriv) - P(ŷ=1 | priv)           ideal 0
- disparate_impact              = P(ŷ=1 | unpriv) / P(ŷ=1 | priv)           ideal 1
- equal_opportunity_difference  = TPR_unpriv - TPR_priv                     ideal 0
- average_odds_difference       = ((FPR_u - FPR_p) + (TPR_u - TPR_p)) / 2    ideal 0
- theil_index                   = mean((b/μ) ln(b/μ)), b = ŷ - y + 1         ideal 0 (all rows)

With more than two groups each non-reference group is compared with the reference and
the worst pair is reported (largest |difference|; for disparate impact the ratio
furthest from 1 on a log scale), so a binary attribute gives exactly aif360's value.

- equalized_odds_difference = max(max_g TPR - min_g TPR, max_g FPR - min_g FPR) over all
  groups: unsigned, fairlearn's definition (for two groups: max(|ΔTPR|, |ΔFPR|)).

Point values come from aif360's ClassificationMetric; confidence intervals come from a
group-stratified percentile bootstrap of the same formulas in vectorised numpy (the
tests check the numpy path against aif360, fairlearn and DESIGN.md's oracle).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from evalsuite.stats import percentile_interval, resample_indices
from evalsuite.task_types import HIGHER, ideal

RATE_NAMES = ("base_rate", "selection_rate", "tpr", "fpr")
PAIR_METRICS = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                "average_odds_difference")
METRIC_DIRECTIONS = {
    "statistical_parity_difference": ideal(0), "disparate_impact": ideal(1),
    "equal_opportunity_difference": ideal(0), "average_odds_difference": ideal(0),
    "equalized_odds_difference": ideal(0), "theil_index": ideal(0), "accuracy": HIGHER,
}
STRATIFIED_METHOD = "bootstrap-percentile-stratified"


@contextlib.contextmanager
def quiet_aif360():
    """aif360 logs missing optional backends (tensorflow, inFairness) and warns on 0/0 at import; noise here."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def group_rates(y: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Per-group rates over the last axis: each value has shape y.shape[:-1] + (n_groups,). NaN where undefined."""
    y, y_pred = np.asarray(y, dtype=float), np.asarray(y_pred, dtype=float)
    out = {name: [] for name in RATE_NAMES}
    with np.errstate(invalid="ignore", divide="ignore"):
        for g in range(n_groups):
            member = (groups == g).astype(float)
            n = member.sum(-1)
            pos, neg = (y * member).sum(-1), ((1 - y) * member).sum(-1)
            out["base_rate"].append(pos / n)
            out["selection_rate"].append((y_pred * member).sum(-1) / n)
            out["tpr"].append((y_pred * y * member).sum(-1) / pos)
            out["fpr"].append((y_pred * (1 - y) * member).sum(-1) / neg)
    return {k: np.stack(v, axis=-1) for k, v in out.items()}


def theil_index(y: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Generalized entropy index with alpha=1 of b = ŷ - y + 1, over the last axis (aif360's theil_index)."""
    b = np.asarray(y_pred, dtype=float) - np.asarray(y, dtype=float) + 1.0
    mu = b.mean(-1, keepdims=True)
    ratio = b / mu
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    return terms.mean(-1)


def _worst(values: np.ndarray, *, log_scale: bool = False) -> np.ndarray:
    """The entry furthest from the ideal (0, or 1 on a log scale) along the last axis, NaNs ignored."""
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.abs(np.log(values)) if log_scale else np.abs(values)
    distance = np.where(np.isnan(distance), -np.inf, distance)
    pick = np.argmax(distance, axis=-1)
    chosen = np.take_along_axis(values, pick[..., None], axis=-1)[..., 0]
    return np.where(np.all(np.isinf(distance) & (distance < 0), axis=-1), np.nan, chosen)


def metrics_from_rates(rates: dict[str, np.ndarray], reference: int) -> dict[str, np.ndarray]:
    """Worst-pair aif360 metrics versus `reference` and fairlearn's equalized odds difference."""
    others = [g for g in range(rates["selection_rate"].shape[-1]) if g != reference]
    sel, tpr, fpr = rates["selection_rate"], rates["tpr"], rates["fpr"]
    ref = lambda r: r[..., reference:reference + 1]  # noqa: E731 - keeps the pairwise lines readable
    with np.errstate(divide="ignore", invalid="ignore"):
        spd = sel[..., others] - ref(sel)
        di = sel[..., others] / ref(sel)
        eod = tpr[..., others] - ref(tpr)
        aod = ((fpr[..., others] - ref(fpr)) + (tpr[..., others] - ref(tpr))) / 2
    eq_odds = np.maximum(np.nanmax(tpr, -1) - np.nanmin(tpr, -1), np.nanmax(fpr, -1) - np.nanmin(fpr, -1))
    return {"statistical_parity_difference": _worst(spd), "disparate_impact": _worst(di, log_scale=True),
            "equal_opportunity_difference": _worst(eod), "average_odds_difference": _worst(aod),
            "equalized_odds_difference": eq_odds}


def aif360_pairwise(y, y_pred, groups, n_groups: int, reference: int) -> list[dict]:
    """aif360's ClassificationMetric for each non-reference group against the reference group."""
    import pandas as pd

    from evalsuite.errors import require

    with quiet_aif360():
        require("aif360", "audits")
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import ClassificationMetric

        frame = pd.DataFrame({"group": np.asarray(groups, dtype=float), "y": np.asarray(y, dtype=float)})
        truth = BinaryLabelDataset(df=frame, label_names=["y"], protected_attribute_names=["group"],
                                   favorable_label=1.0, unfavorable_label=0.0)
        predicted = truth.copy()
        predicted.labels = np.asarray(y_pred, dtype=float).reshape(-1, 1)
        rows = []
        for g in range(n_groups):
            if g == reference:
                continue
            m = ClassificationMetric(truth, predicted, unprivileged_groups=[{"group": g}],
                                     privileged_groups=[{"group": reference}])
            rows.append({"group": g, "statistical_parity_difference": m.statistical_parity_difference(),
                         "disparate_impact": m.disparate_impact(),
                         "equal_opportunity_difference": m.equal_opportunity_difference(),
                         "average_odds_difference": m.average_odds_difference()})
        # The Theil index is over all rows, so the last pair's metric object gives it.
        overall_theil = m.theil_index()
    for row in rows:
        row["theil_index"] = float(overall_theil)
        for key in PAIR_METRICS:
            row[key] = float(row[key])
    return rows


@dataclass
class GroupFairness:
    """Fairness of one decision over one grouping (an attribute or an intersection of attributes)."""

    attribute: str  # "sex", or "sex*race" for an intersection
    group_names: list[str]  # "sex=0", "sex=1,race=b", ... in code order
    reference: int
    counts: np.ndarray
    rates: dict[str, np.ndarray]  # name -> (n_groups,)
    rate_cis: dict[str, np.ndarray]  # name -> (2, n_groups)
    metrics: dict[str, float]
    metric_cis: dict[str, tuple[float, float]]
    pairwise: list[dict]  # aif360's values per non-reference group

    def groups_json(self) -> list[dict]:
        """The shared record layout: details["groups"] rows with [value, ci_low, ci_high] rates."""
        rows = []
        for g, name in enumerate(self.group_names):
            rates = {}
            for key in RATE_NAMES:
                value, lo, hi = self.rates[key][g], self.rate_cis[key][0, g], self.rate_cis[key][1, g]
                if not np.isnan(value):
                    rates[key] = [float(value), _finite(lo), _finite(hi)]
            rows.append({"attribute": self.attribute, "group": name, "n": int(self.counts[g]),
                         "reference": g == self.reference, "rates": rates})
        return rows


def _finite(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def group_fairness(y, y_pred, groups, group_names: list[str], reference: int, *, attribute: str,
                   n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> GroupFairness:
    """Rates, metrics (aif360 point values) and stratified bootstrap CIs for one grouping."""
    y, y_pred, groups = np.asarray(y, float), np.asarray(y_pred, float), np.asarray(groups, int)
    n_groups = len(group_names)
    rates = group_rates(y, y_pred, groups, n_groups)
    pairwise = aif360_pairwise(y, y_pred, groups, n_groups, reference)
    metrics = {key: float(_worst(np.array([row[key] for row in pairwise]), log_scale=key == "disparate_impact"))
               for key in PAIR_METRICS}
    metrics["equalized_odds_difference"] = float(metrics_from_rates(rates, reference)["equalized_odds_difference"])

    idx = resample_indices(len(groups), n_resamples, seed, strata=groups)
    boot_rates = group_rates(y[idx], y_pred[idx], groups[idx], n_groups)
    boot_metrics = metrics_from_rates(boot_rates, reference)
    rate_cis = {k: percentile_interval(v, confidence) for k, v in boot_rates.items()}
    metric_cis = {k: tuple(float(b) for b in percentile_interval(v, confidence)) for k, v in boot_metrics.items()}
    counts = np.bincount(groups, minlength=n_groups)
    return GroupFairness(attribute, list(group_names), reference, counts, rates, rate_cis, metrics, metric_cis,
                         pairwise)


def overall_metrics(y, y_pred, *, n_resamples: int = 1000, seed: int = 0, groups=None,
                    confidence: float = 0.95) -> dict[str, tuple[float, tuple[float, float]]]:
    """Theil index (aif360's value, checked in tests) and accuracy, with stratified bootstrap CIs."""
    y, y_pred = np.asarray(y, float), np.asarray(y_pred, float)
    groups = np.zeros(len(y), int) if groups is None else np.asarray(groups, int)
    idx = resample_indices(len(groups), n_resamples, seed, strata=groups)
    out = {}
    for name, fn in (("theil_index", theil_index), ("accuracy", lambda a, b: (a == b).mean(-1))):
        lo, hi = percentile_interval(fn(y[idx], y_pred[idx]), confidence)
        out[name] = (float(fn(y, y_pred)), (float(lo), float(hi)))
    return out
