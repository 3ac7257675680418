"""Classifier fairness audit on tabular data: `audit_classifier` from Python, `evalsuite audit` on the CLI.

    from evalsuite.audits.tabular_audit import audit_classifier
    result = audit_classifier(estimator_or_adapter, frame, label="hired", protected=["sex", "race"],
                              privileged={"sex": 1}, mitigate=["reweighing", "thresholds"])
    result.metrics["statistical_parity_difference"]   # (value, (ci_low, ci_high))

The model is any classifier adapter (`.classify(X)` and `.labels`: HFSequenceClassifier,
SklearnClassifier, TorchClassifier, PredictionsFile), a fitted scikit-learn estimator, or
nothing when `predictions=` names a column of the frame (or gives an array) of decisions.

Metrics (see `fairness_metrics` for the formulas) are computed for every grouping: each
protected attribute, and their intersection when there are two or more. The first protected
attribute is the primary grouping: its metrics carry bare names in the record
("statistical_parity_difference"); the others are prefixed ("race.disparate_impact",
"sex*race.disparate_impact"). Each grouping's reference (aif360's privileged group) is the
group named with `privileged`, else the group the unmitigated model selects most often.
Groups smaller than `min_group_size` are kept but warned about (stderr and the record).

With `mitigate`, the data is split (seeded, stratified by primary group and label) into a
training/calibration half and an evaluation half unless `train=` is given; then every
method, the unmitigated model included, is audited on the same evaluation rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from evalsuite.audits.fairness_metrics import (METRIC_DIRECTIONS, PAIR_METRICS, GroupFairness, group_fairness,
                                               group_rates, overall_metrics)
from evalsuite.audits.mitigation import (MITIGATIONS, apply_group_thresholds, fit_group_thresholds, refit,
                                         reweighing_weights, split_rows)
from evalsuite.audits.tabular_inputs import AuditInputs, model_decisions, prepare
from evalsuite.errors import UserError

GROUP_METRICS = (*PAIR_METRICS, "equalized_odds_difference")
DEFAULT_MIN_GROUP_SIZE = 30


@dataclass
class MethodAudit:
    """One decision rule (the model, or a mitigation of it) audited on the evaluation rows."""

    method: str
    groupings: list[GroupFairness]
    overall: dict[str, tuple[float, tuple[float, float]]]  # theil_index, accuracy

    @property
    def metrics(self) -> dict[str, tuple[float, tuple[float, float]]]:
        """name -> (value, (ci_low, ci_high)); bare names for the primary grouping."""
        out = {}
        for i, gf in enumerate(self.groupings):
            prefix = "" if i == 0 else f"{gf.attribute}."
            for key in GROUP_METRICS:
                out[prefix + key] = (gf.metrics[key], gf.metric_cis[key])
        out.update(self.overall)
        return out


@dataclass
class FairnessAudit:
    """What `audit_classifier` returns; `to_outcome` turns it into a fairness record."""

    model_name: str
    label: str
    favorable: str
    n: int
    min_group_size: int
    audit: MethodAudit  # the unmitigated model
    mitigations: list[MethodAudit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    split: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # per-row decisions for samples.jsonl
    n_resamples: int = 1000
    model_fingerprint: dict = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, tuple[float, tuple[float, float]]]:
        return self.audit.metrics

    @property
    def groupings(self) -> list[GroupFairness]:
        return self.audit.groupings

    def groups_json(self) -> list[dict]:
        return [row for gf in self.audit.groupings for row in gf.groups_json()]

    def comparison(self) -> list[dict]:
        """The side-by-side table: one row per method with every metric as [value, ci_low, ci_high]."""
        return [{"method": m.method, **{k: [v, *ci] for k, v, ci in ((k, *vc) for k, vc in m.metrics.items())}}
                for m in [self.audit, *self.mitigations]]

    def table(self) -> str:
        from evalsuite.audits.fairness_report import comparison_table

        return comparison_table(self)

    def to_outcome(self, artifacts_dir):
        from evalsuite.audits.fairness_report import to_outcome

        return to_outcome(self, artifacts_dir)


def _as_adapter(model, predictions, frame):
    """The classifier adapter to ask: an adapter as is, an estimator or a predictions column wrapped."""
    from evalsuite.models.classifiers import PredictionsFile, SklearnClassifier

    if predictions is not None:
        if model is not None:
            raise UserError("give either a model or predictions, not both")
        if isinstance(predictions, str):
            if predictions not in frame.columns:
                raise UserError(f"data has no predictions column '{predictions}'")
            values = frame[predictions]
            name = f"column:{predictions}"
        else:
            values, name = list(predictions), "predictions"
        if len(values) != len(frame):
            raise UserError(f"{len(values)} predictions for {len(frame)} data rows; give one per row")
        return PredictionsFile({"prediction": [str(v) for v in values]}, name=name)
    if model is None:
        raise UserError("no model to audit; pass a classifier, a fitted estimator or predictions=COLUMN")
    if hasattr(model, "classify") and hasattr(model, "labels"):
        return model
    if hasattr(model, "fit") and (hasattr(model, "predict_proba") or hasattr(model, "predict")):
        return SklearnClassifier(model)
    raise UserError(f"cannot audit a {type(model).__name__}: pass an object with .classify(X) and .labels, "
                    "a fitted scikit-learn estimator, or predictions=COLUMN")


def _check_mitigations(mitigate, adapter) -> list[str]:
    mitigate = [m.strip() for m in ([mitigate] if isinstance(mitigate, str) else (mitigate or ())) if m.strip()]
    unknown = [m for m in mitigate if m not in MITIGATIONS]
    if unknown:
        raise UserError(f"unknown mitigation {', '.join(unknown)}; use {', '.join(MITIGATIONS)}")
    if "reweighing" in mitigate and getattr(adapter, "estimator", None) is None:
        raise UserError("reweighing refits the model, so it needs a scikit-learn estimator (sklearn:PATH or an "
                        "estimator object); use --mitigate thresholds for other models")
    return mitigate


def audit_decisions(inputs: AuditInputs, rows: np.ndarray, decisions: np.ndarray, references: list[int], *,
                    method: str, n_resamples: int, seed: int) -> MethodAudit:
    """Audit 0/1 `decisions` of the rows selected by `rows` (a boolean mask over inputs)."""
    y = inputs.y[rows]
    out = []
    for grouping, reference in zip(inputs.groupings, references):
        out.append(group_fairness(y, decisions, grouping.codes[rows], grouping.names, reference,
                                  attribute=grouping.attribute, n_resamples=n_resamples, seed=seed))
    overall = overall_metrics(y, decisions, n_resamples=n_resamples, seed=seed,
                              groups=inputs.groupings[0].codes[rows])
    # aif360's Theil index for the point value (numpy's agrees; the tests check both).
    overall["theil_index"] = (out[0].pairwise[0]["theil_index"], overall["theil_index"][1])
    return MethodAudit(method, out, overall)


def _references(inputs: AuditInputs, rows: np.ndarray, decisions: np.ndarray) -> list[int]:
    """The privileged group of each grouping: the user's, else the most selected group of the model."""
    refs = []
    for g in inputs.groupings:
        if g.privileged is not None:
            refs.append(g.privileged)
            continue
        sel = group_rates(inputs.y[rows], decisions, g.codes[rows], len(g.names))["selection_rate"]
        refs.append(int(np.nanargmax(sel)))
    return refs


def _size_warnings(inputs: AuditInputs, rows: np.ndarray, min_group_size: int) -> list[str]:
    out = []
    for g in inputs.groupings:
        counts = np.bincount(g.codes[rows], minlength=len(g.names))
        for name, n in zip(g.names, counts):
            if n < min_group_size:
                out.append(f"group {name} has {n} rows, fewer than the minimum group size {min_group_size}; "
                           "its rates and the metrics involving it are uncertain")
    return out


def audit_classifier(model=None, frame=None, *, label: str, protected: str | Sequence[str], privileged=None,
                     favorable=None, features: Sequence[str] | None = None, text: str | None = None,
                     predictions=None, min_group_size: int = DEFAULT_MIN_GROUP_SIZE, mitigate=(), train=None,
                     threshold_target: str = "selection_rate", n_resamples: int = 1000, seed: int = 0,
                     echo: Callable[[str], None] | None = None) -> FairnessAudit:
    """Audit a classifier's decisions on `frame` for the `protected` attributes; see the module docstring."""
    import pandas as pd

    if frame is None:
        raise UserError("no data to audit; pass a DataFrame (or --data FILE)")
    if min_group_size < 1:
        raise UserError(f"minimum group size must be at least 1, got {min_group_size}")
    adapter = _as_adapter(model, predictions, frame)
    mitigate = _check_mitigations(mitigate, adapter)
    if train is not None and not mitigate:
        raise UserError("training data is only used by mitigations; add --mitigate or drop --train-data")

    # One prepared table holds evaluation and training rows, so group codes agree between them.
    if train is not None:
        combined = pd.concat([frame, train], ignore_index=True)
        is_eval = np.arange(len(combined)) < len(frame)
    else:
        combined = frame.reset_index(drop=True)
        is_eval = np.ones(len(combined), dtype=bool)
    inputs = prepare(combined, label=label, protected=protected, privileged=privileged, favorable=favorable)
    if mitigate and train is None:
        strata = inputs.groupings[0].codes * 2 + inputs.y.astype(int)
        is_eval = split_rows(strata, 0.5, seed)
        split = {"kind": "seeded split", "seed": seed, "eval_rows": int(is_eval.sum()),
                 "train_rows": int((~is_eval).sum())}
    elif mitigate:
        split = {"kind": "given training data", "eval_rows": len(frame), "train_rows": len(train)}
    else:
        split = {"kind": "all rows", "eval_rows": len(frame)}
    for g in inputs.groupings:
        if len(g.columns) == 1 and len(np.unique(g.codes[is_eval])) < 2:
            raise UserError(f"the evaluation rows hold only one group of '{g.attribute}'; use more data")

    if hasattr(adapter, "frame") and train is not None:
        raise UserError("predictions cover the audited rows only; mitigations with --train-data need a model")
    decisions, scores = model_decisions(adapter, inputs, features=features, text=text)
    if "thresholds" in mitigate and np.all(np.isin(scores, (0.0, 1.0))):
        raise UserError("group thresholds need scores, and this model gives only hard decisions; "
                        "give a score column (score_column=...) or use --mitigate reweighing")

    references = _references(inputs, is_eval, decisions[is_eval])
    notes = _size_warnings(inputs, is_eval, min_group_size)
    for note in notes:  # Python callers get warnings; the CLI passes echo (stderr)
        if echo is None:
            warnings.warn(note, stacklevel=2)
        else:
            echo(f"[evalsuite] warning: {note}")
    common = dict(n_resamples=n_resamples, seed=seed)
    base = audit_decisions(inputs, is_eval, decisions[is_eval], references, method="unmitigated", **common)
    mitigated = []
    from evalsuite.models.classifiers import SklearnClassifier

    primary, ref = inputs.groupings[0], references[0]
    train_rows = ~is_eval
    if "reweighing" in mitigate:
        weights = reweighing_weights(inputs.y[train_rows], primary.codes[train_rows], ref)
        feature_frame = combined[list(features)] if features else combined.drop(columns=[label])
        fitted_on = getattr(adapter.estimator, "feature_names_in_", None)
        if fitted_on is not None:  # the same columns the estimator was first fitted on
            feature_frame = feature_frame[list(fitted_on)]
        labels_raw = combined[label]
        for method, w in (("refit_unweighted", None), ("reweighing", weights)):
            estimator = refit(adapter.estimator, feature_frame[train_rows],
                              labels_raw[train_rows], sample_weight=w)
            refitted = SklearnClassifier(estimator, name=f"{adapter.name}+{method}")
            d, _ = model_decisions(refitted, inputs, features=features, text=text)
            mitigated.append(audit_decisions(inputs, is_eval, d[is_eval], references, method=method, **common))
    if "thresholds" in mitigate:
        cal_y, cal_groups, cal_decisions = inputs.y[train_rows], primary.codes[train_rows], decisions[train_rows]
        target_rate = cal_decisions.mean() if threshold_target == "selection_rate" else \
            cal_decisions[cal_y == 1].mean()
        thresholds = fit_group_thresholds(scores[train_rows], cal_y, cal_groups, len(primary.names),
                                          float(target_rate), threshold_target)
        d = apply_group_thresholds(scores[is_eval], primary.codes[is_eval], thresholds)
        audit = audit_decisions(inputs, is_eval, d, references, method="thresholds", **common)
        mitigated.append(audit)
        split["thresholds"] = {name: float(t) for name, t in zip(primary.names, thresholds)}
        split["threshold_target"] = {"rate": threshold_target, "value": float(target_rate)}

    eval_idx = np.flatnonzero(is_eval)
    rows = [{"doc_id": int(i), "group": {g.attribute: g.names[g.codes[i]] for g in inputs.groupings},
             "scores": {"y": float(inputs.y[i]), "decision": float(decisions[i]), "score": float(scores[i]),
                        "correct": float(inputs.y[i] == decisions[i])}} for i in eval_idx]
    return FairnessAudit(adapter.name, label, inputs.favorable, int(is_eval.sum()), min_group_size, base,
                         mitigated, notes, split, rows, n_resamples,
                         adapter.fingerprint())


def metric_direction(name: str) -> dict:
    """The record direction of a metric name, prefixed or not."""
    return METRIC_DIRECTIONS[name.rsplit(".", 1)[-1]].to_json()

