"""Membership inference: attack scores, ROC AUC and TPR at low FPR, each with a bootstrap CI.

Two attacks on a language model, both "higher score = more likely a member":

- loss attack (Yeom et al.): score = -loss of the target model on the example;
- reference-calibrated attack (Carlini et al., Watson et al.): score = reference
  loss - target loss, the reference being a model that never saw the example (the
  model before fine-tuning, or one trained on disjoint data). It removes how hard
  an example is in general, which the plain loss attack confuses with membership.

Low-FPR operating points need many non-members: FPR 1e-3 allows one false
positive per 1000 non-members, so with fewer than 1/FPR non-members the reported
TPR is the TPR at zero false positives and the record says so.
"""

from __future__ import annotations

import numpy as np

from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci

LOW_FPRS = (0.001, 0.01)


def example_losses(model, texts: list[str]) -> np.ndarray:
    """Mean next-token loss (nats/token) of each text under an adapter, through its rolling loglikelihood."""
    from evalsuite.requests import LoglikelihoodRolling

    results = model.loglikelihood_rolling([LoglikelihoodRolling(t) for t in texts])
    return np.array([-r.logprob / max(r.n_tokens, 1) for r in results], dtype=float)


def _rows(columns):
    scores, labels = np.asarray(columns["score"], float), np.asarray(columns["member"], float)
    return np.atleast_2d(scores), np.atleast_2d(labels)


def auc_reducer(columns) -> np.ndarray:
    """ROC AUC per row (Mann-Whitney with average ranks for ties); works on bootstrap matrices."""
    from scipy.stats import rankdata

    scores, labels = _rows(columns)
    ranks = rankdata(scores, axis=-1)
    n_pos = labels.sum(axis=-1)
    n_neg = labels.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * labels).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return auc if auc.shape[0] > 1 else auc[0]


def tpr_at_fpr(scores: np.ndarray, members: np.ndarray, fpr: float) -> float:
    """Largest TPR of "score > t" over thresholds t whose FPR is <= `fpr`."""
    neg = np.sort(scores[members == 0])[::-1]
    pos = scores[members == 1]
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(neg)))  # false positives the operating point allows
    threshold = neg[allowed] if allowed < len(neg) else -np.inf
    return float(np.mean(pos > threshold))


def tpr_reducer(fpr: float):
    def reduce(columns):
        scores, labels = _rows(columns)
        out = np.array([tpr_at_fpr(s, m, fpr) for s, m in zip(scores, labels)])
        return out if out.shape[0] > 1 else out[0]

    return reduce


def attack_metrics(scores, members, *, prefix: str, n_resamples: int, seed: int) -> tuple[dict, dict]:
    """AUC and TPR at FPR 1e-3 / 1e-2 as metric entries, and notes on what the sample size supports."""
    from evalsuite.records import metric_entry
    from evalsuite.task_types import LOWER, ideal

    columns = {"score": np.asarray(scores, float), "member": np.asarray(members, float)}
    n, n_neg = len(columns["score"]), int((columns["member"] == 0).sum())
    metrics = {f"{prefix}auc": metric_entry(float(auc_reducer(columns)), ideal(0.5).to_json(),
                                            _finite(bootstrap_ci(columns, auc_reducer, n_resamples=n_resamples,
                                                                 seed=seed)), BOOTSTRAP_METHOD, n)}
    notes = {}
    for fpr in LOW_FPRS:
        reduce = tpr_reducer(fpr)
        metrics[f"{prefix}tpr_at_fpr_{fpr:g}"] = metric_entry(
            float(reduce(columns)), LOWER.to_json(),
            _finite(bootstrap_ci(columns, reduce, n_resamples=n_resamples, seed=seed)), BOOTSTRAP_METHOD, n)
        if n_neg < 1 / fpr:
            notes[f"tpr_at_fpr_{fpr:g}"] = (f"needs >= {int(round(1 / fpr))} non-members to resolve FPR {fpr:g}; "
                                            f"with {n_neg} it is the TPR at zero false positives")
    return metrics, notes


def _finite(ci):
    return ci if all(np.isfinite(ci)) else None
