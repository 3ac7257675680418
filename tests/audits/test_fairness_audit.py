"""The tabular audit from Python: planted disparity found, clean twin clean, mitigations, input kinds."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite.audits.tabular_audit import audit_classifier
from evalsuite.errors import UserError

AUDIT = dict(label="hired", protected=["sex", "race"], n_resamples=400, seed=0)


def _contains(ci, value):
    return ci[0] <= value <= ci[1]


def test_planted_disparity_is_found_and_clean_twin_is_clean(planted_table, clean_table):
    planted = audit_classifier(planted_table[1], planted_table[0], privileged={"sex": 1}, **AUDIT).metrics
    clean = audit_classifier(clean_table[1], clean_table[0], privileged={"sex": 1}, **AUDIT).metrics
    value, ci = planted["statistical_parity_difference"]
    assert ci[1] < 0 and value < -0.3  # sex=0 is selected far less often, CI excludes 0
    assert planted["disparate_impact"][1][1] < 1
    for key, ideal in (("statistical_parity_difference", 0), ("disparate_impact", 1),
                       ("equal_opportunity_difference", 0), ("average_odds_difference", 0)):
        assert _contains(clean[key][1], ideal), (key, clean[key])
    # race never enters the labels: its (worst-pair) parity CI includes 0 in both worlds.
    assert _contains(planted["race.statistical_parity_difference"][1], 0)
    assert _contains(clean["race.statistical_parity_difference"][1], 0)


def test_intersectional_groups_counts_and_equalized_odds_match_fairlearn(planted_table):
    from fairlearn.metrics import equalized_odds_difference

    frame, model = planted_table
    result = audit_classifier(model, frame, **AUDIT)
    inter = result.groupings[-1]
    assert inter.attribute == "sex*race"
    expected = frame.groupby(["sex", "race"]).size()
    assert {name: int(n) for name, n in zip(inter.group_names, inter.counts)} == \
        {f"sex={s},race={r}": int(n) for (s, r), n in expected.items()}
    decisions = model.predict(frame.drop(columns=["hired"]))
    assert result.metrics["sex*race.equalized_odds_difference"][0] == pytest.approx(
        equalized_odds_difference(frame["hired"], decisions, sensitive_features=frame[["sex", "race"]]))
    # No privileged value named: the reference is the most selected group.
    sel = inter.rates["selection_rate"]
    assert inter.reference == int(np.argmax(sel))


def test_estimator_adapter_and_predictions_column_agree(planted_table):
    from evalsuite.models.classifiers import SklearnClassifier

    frame, model = planted_table
    frame = frame.assign(pred=model.predict(frame.drop(columns=["hired"])))
    by_estimator = audit_classifier(model, frame.drop(columns=["pred"]), **AUDIT).metrics
    by_adapter = audit_classifier(SklearnClassifier(model), frame.drop(columns=["pred"]), **AUDIT).metrics
    by_column = audit_classifier(None, frame, predictions="pred", **AUDIT).metrics
    for key, (value, ci) in by_estimator.items():
        assert by_adapter[key][0] == pytest.approx(value, nan_ok=True)
        assert by_column[key][0] == pytest.approx(value, nan_ok=True)
        assert by_column[key][1] == pytest.approx(ci, nan_ok=True)  # same seed, same rows: same bootstrap


def test_mitigations_side_by_side(planted_table):
    from evalsuite.audits.mitigation import reweighing_weights

    frame, model = planted_table
    result = audit_classifier(model, frame, privileged={"sex": 1}, mitigate=["reweighing", "thresholds"], **AUDIT)
    table = {row["method"]: row for row in result.comparison()}
    assert list(table) == ["unmitigated", "refit_unweighted", "reweighing", "thresholds"]
    spd = {m: table[m]["statistical_parity_difference"] for m in table}
    assert spd["unmitigated"][2] < 0
    # Thresholds equalize selection rates on the calibration half: the gap's CI includes 0 on the other half.
    assert _contains(spd["thresholds"][1:], 0)
    # Reweighing narrows the gap relative to the same refit without weights.
    assert abs(spd["reweighing"][0]) < abs(spd["refit_unweighted"][0]) - 0.1
    assert result.split["eval_rows"] + result.split["train_rows"] == len(frame)
    # aif360's Reweighing weights are Kamiran & Calders' P(g) P(y) / P(g, y).
    rng = np.random.default_rng(0)
    g, y = rng.integers(0, 3, 300), rng.integers(0, 2, 300).astype(float)
    priv = (g == 2)
    expected = np.array([priv.mean() if p else (1 - priv.mean()) for p in priv]) * \
        np.where(y == 1, y.mean(), 1 - y.mean()) / \
        np.array([np.mean((priv == p) & (y == v)) for p, v in zip(priv, y)])
    np.testing.assert_allclose(reweighing_weights(y, g, reference=2), expected)


def test_min_group_size_warns_and_non_binary_labels_need_favorable(planted_table):
    frame, model = planted_table
    with pytest.warns(UserWarning, match="fewer than the minimum group size 200"):
        result = audit_classifier(model, frame, min_group_size=200, **AUDIT)
    assert any("sex=1,race=c" in w for w in result.warnings)
    graded = frame.assign(hired=np.where(frame["hired"] == 1, "offer", np.where(frame["experience"] > 0, "wait",
                                                                                   "reject")))
    with pytest.raises(UserError, match="--favorable"):
        audit_classifier(None, graded.assign(pred="offer"), predictions="pred", **AUDIT)
    ok = audit_classifier(None, graded.assign(pred=np.where(frame["test_score"] > 0, "offer", "reject")),
                          predictions="pred", favorable="offer", **AUDIT)
    assert ok.favorable == "offer" and 0 < ok.metrics["accuracy"][0] < 1
