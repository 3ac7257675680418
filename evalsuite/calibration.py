"""Calibration of multiple-choice answers: does the model know when it is wrong?

From each sample's choice loglikelihoods (the summed token log-probabilities of each
choice's continuation, the scores `acc` ranks), the choice probabilities are a softmax over
the choices, with no length normalisation; the prediction is the top choice (acc's
prediction, first index on ties) and its probability is the sample's confidence.

- ECE (expected calibration error, L1, top-label): sum over bins of |sum(confidence -
  correct)| / n. Ten equal-mass bins as HELM (samples sorted by confidence, ties in document
  order; bin b holds sorted positions [b*n//10, (b+1)*n//10)), or ten equal-width bins
  (bin = min(floor(10 * confidence), 9), empty bins skipped).
- Brier score, multi-class: mean over samples of sum_k (p_k - [k = gold])^2, in [0, 2].
- Selective prediction: samples ordered by confidence (highest first, ties in document order);
  accuracy at coverage c is the accuracy of the first ceil(c * n); the area under the
  accuracy-coverage curve is the mean of the accuracies of the first k, k = 1..n.

Intervals: percentile bootstrap over samples for Brier and selective prediction. The plug-in
ECE is biased upward by the binning noise (a perfectly calibrated model scores about 0.015 on
5,000 items), so its own percentile interval never reaches 0. ECE's interval is therefore
[max(0, ECE - q), high]: q is the 97.5% quantile of the ECE a perfectly calibrated model gets
at the same confidences (labels redrawn as Bernoulli(confidence), "consistency resampling"),
and high the 97.5% bootstrap percentile. That `noise_floor` goes into the record's details.
"""

from __future__ import annotations

import math

import numpy as np

BINS = 10
COVERAGES = tuple(round(0.1 * k, 1) for k in range(1, 11))
NORMALISATION = ("softmax over the choices of each choice's summed token loglikelihood (the scores acc ranks; "
                 "no length normalisation); confidence = top choice probability")
ECE_CI_METHOD = ("lower: ECE - 97.5% quantile of a perfectly calibrated model's ECE (consistency resampling); "
                 "upper: bootstrap-percentile")
CATEGORY = "calibration"


def choice_probabilities(loglikelihoods) -> np.ndarray:
    """Softmax over one sample's choice loglikelihoods."""
    lls = np.asarray(loglikelihoods, dtype=float)
    p = np.exp(lls - lls.max())
    return p / p.sum()


def ece(confidence, correct, bins: int = BINS, binning: str = "mass") -> np.ndarray:
    """Expected calibration error over the last axis (so a matrix of resamples reduces at once)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    n = confidence.shape[-1]
    gap = confidence - correct
    total = np.zeros(confidence.shape[:-1])
    if binning == "mass":
        order = np.argsort(confidence, axis=-1, kind="stable")
        gap = np.take_along_axis(gap, order, -1)
        for b in range(bins):
            lo, hi = b * n // bins, (b + 1) * n // bins
            if hi > lo:
                total = total + np.abs(gap[..., lo:hi].sum(-1))
    elif binning == "width":
        which = np.minimum(np.floor(confidence * bins).astype(int), bins - 1)
        for b in range(bins):
            total = total + np.abs(np.where(which == b, gap, 0.0).sum(-1))
    else:
        raise ValueError(f"binning must be 'mass' or 'width', got {binning!r}")
    return total / n


def reliability_bins(confidence, correct, bins: int = BINS, binning: str = "mass") -> list[dict]:
    """Per bin: its confidence range, sample count, mean confidence and accuracy (the reliability diagram)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    n = len(confidence)
    if binning == "mass":
        order = np.argsort(confidence, kind="stable")
        groups = [order[b * n // bins:(b + 1) * n // bins] for b in range(bins)]
    else:
        which = np.minimum(np.floor(confidence * bins).astype(int), bins - 1)
        groups = [np.flatnonzero(which == b) for b in range(bins)]
    out = []
    for g in groups:
        if len(g):
            out.append({"n": int(len(g)), "confidence": float(confidence[g].mean()), "accuracy": float(correct[g].mean()),
                        "low": float(confidence[g].min()), "high": float(confidence[g].max())})
    return out


def selective_curve(confidence, correct) -> np.ndarray:
    """Accuracy of the k most confident samples, k = 1..n, over the last axis."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    order = np.argsort(-confidence, axis=-1, kind="stable")
    hits = np.cumsum(np.take_along_axis(correct, order, -1), axis=-1)
    return hits / np.arange(1, confidence.shape[-1] + 1)


def coverage_count(coverage: float, n: int) -> int:
    return max(1, math.ceil(coverage * n - 1e-9))


def _interval(stats: np.ndarray) -> list[float]:
    lo, hi = np.nanquantile(stats, [0.025, 0.975], axis=0)
    return [float(lo), float(hi)]


def summarise(loglikelihoods: list, gold: list[int], *, seed: int = 1234, n_resamples: int = 1000) -> dict:
    """Calibration metrics (record form), details and per-sample values from choice loglikelihoods and gold indices."""
    from evalsuite.records import metric_entry
    from evalsuite.stats import BOOTSTRAP_METHOD, resample_indices

    probs = [choice_probabilities(lls) for lls in loglikelihoods]
    confidence = np.array([p.max() for p in probs])
    pred = np.array([int(np.argmax(p)) for p in probs])
    gold = np.asarray(gold, dtype=int)
    correct = (pred == gold).astype(float)
    brier = np.array([float(((p - np.eye(len(p))[g]) ** 2).sum()) for p, g in zip(probs, gold)])
    n = len(confidence)
    idx = resample_indices(n, n_resamples, [seed, 17])
    c_r, y_r = confidence[idx], correct[idx]
    null = (np.random.default_rng([seed, 18]).random((n_resamples, n)) < confidence).astype(float)
    lower, higher = {"direction": "lower", "ideal": None}, {"direction": "higher", "ideal": None}
    metrics, floors = {}, {}
    for name, binning in (("ece", "mass"), ("ece_equal_width", "width")):
        value = float(ece(confidence, correct, binning=binning))
        floor = ece(np.broadcast_to(confidence, null.shape), null, binning=binning)
        floors[binning] = {"mean": float(floor.mean()), "q975": float(np.quantile(floor, 0.975))}
        high = _interval(ece(c_r, y_r, binning=binning))[1]
        metrics[name] = metric_entry(value, lower, (max(0.0, value - floors[binning]["q975"]), max(high, value)),
                                     ECE_CI_METHOD, n, range=(0.0, 1.0))
    metrics["brier"] = metric_entry(float(brier.mean()), lower, _interval(brier[idx].mean(-1)), BOOTSTRAP_METHOD, n,
                                    range=(0.0, 2.0))
    curves = selective_curve(c_r, y_r)
    curve = selective_curve(confidence, correct)
    metrics["selective_auc"] = metric_entry(float(curve.mean()), higher, _interval(curves.mean(-1)), BOOTSTRAP_METHOD,
                                            n, range=(0.0, 1.0))
    for m in metrics.values():
        m["category"] = CATEGORY
    selective = [{"coverage": c, "n": coverage_count(c, n), "accuracy": float(curve[coverage_count(c, n) - 1]),
                  "ci": _interval(curves[:, coverage_count(c, n) - 1])} for c in COVERAGES]
    details = {"normalisation": NORMALISATION, "bins": BINS, "n": n,
               "reliability": reliability_bins(confidence, correct, binning="mass"),
               "reliability_equal_width": reliability_bins(confidence, correct, binning="width"),
               "noise_floor": floors, "selective": selective,
               "accuracy": float(correct.mean())}
    per_sample = [{"confidence": float(c), "brier": float(b)} for c, b in zip(confidence, brier)]
    return {"metrics": metrics, "details": details, "per_sample": per_sample}


def add_calibration(outcome: dict, folder, *, title: str = "", seed: int, n_resamples: int) -> None:
    """Turn `outcome["choice_scores"]` ({prefix: [(sample index, choice loglikelihoods, gold index)]}) into
    calibration metrics, details, per-sample confidence/Brier and a reliability diagram next to the record."""
    from pathlib import Path

    from evalsuite.calibration_plot import reliability_svg
    from evalsuite.records import atomic_write_text, slug

    groups = outcome.pop("choice_scores", None) or {}
    for prefix, given in groups.items():
        # A gold index outside the choices, or no finite loglikelihood, has no calibration: left out, counted.
        rows = [r for r in given if len(r[1]) and 0 <= int(r[2]) < len(r[1]) and np.isfinite(np.max(r[1]))]
        if not rows:
            continue
        result = summarise([r[1] for r in rows], [r[2] for r in rows], seed=seed, n_resamples=n_resamples)
        for name, entry in result["metrics"].items():
            outcome["metrics"][f"{prefix}{name}"] = entry
        for (at, _, _), values in zip(rows, result["per_sample"]):
            scores = outcome["samples"][at].setdefault("scores", {})
            scores.update(values)
        label = prefix.rstrip("/")
        file = f"reliability-{slug(label)}.svg" if label else "reliability.svg"
        atomic_write_text(Path(folder) / file, reliability_svg(result["details"], f"{title} {label}".strip()))
        outcome.setdefault("artifacts", {})[f"reliability{'/' + label if label else ''}"] = file
        result["details"]["n_left_out"] = len(given) - len(rows)
        outcome.setdefault("details", {}).setdefault("calibration", {})[label or "all"] = result["details"]
