"""Calibration and robustness as leaderboard categories: a metric that names its own category counts there,
by the definition's declared normalisation, in listed tasks too; excluded duplicates do not count."""

from __future__ import annotations

import pytest

from evalsuite.jobs import CATEGORIES as JOB_CATEGORIES
from evalsuite.leaderboards.aggregate import build_leaderboard
from evalsuite.leaderboards.definition import CATEGORIES, load_definition, parse_definition
from evalsuite.leaderboards.results import latest_records_by_model, open_store

from lb_records import entry, mc_samples, record_spec, write_run


def own(value, direction, category, ci=None, ideal_value=None):
    e = entry(value, direction, ci, 100, ideal_value)
    e["category"] = category
    return e


def test_categories_agree_between_jobs_and_leaderboards():
    assert JOB_CATEGORIES == CATEGORIES and {"calibration", "robustness"} <= set(CATEGORIES)


def test_metric_categories_count_where_they_say_with_declared_rules(tmp_path):
    metrics = {"acc": entry(0.8, "higher", (0.7, 0.9), 40),
               "ece": own(0.1, "lower", "calibration", (0.05, 0.15)),
               "ece_equal_width": own(0.3, "lower", "calibration"),
               "brier": own(0.5, "lower", "calibration", (0.4, 0.6)),
               "selective_auc": own(0.9, "higher", "calibration", (0.85, 0.95)),
               "robustness": own(0.6, "higher", "robustness", (0.5, 0.7)),
               "robustness_drop": own(0.2, "lower", "robustness"),
               "acc@typo": own(0.7, "higher", "robustness"), "acc_drop@typo": own(0.1, "lower", "robustness"),
               "gap@gender-swap": own(-0.1, "ideal", "fairness", (-0.2, 0.0), ideal_value=0.0)}
    write_run(tmp_path, "m", {"evalsuite/demo_facts_mc": record_spec(metrics, samples=mc_samples([1] * 32 + [0] * 8))})
    store = open_store(tmp_path)
    try:
        by_model = latest_records_by_model(store)
    finally:
        store.close()
    board = build_leaderboard(by_model, load_definition("default"))
    row = board["models"][0]
    cats = row["categories"]
    assert cats["capability"]["score"] == pytest.approx((0.8 - 0.25) / 0.75)  # acc only, chance from samples
    # ece 0.1 on 1..0 -> 0.9; brier 0.5 on 2..0 -> 0.75; selective_auc 0.9; ece_equal_width excluded
    assert cats["calibration"]["score"] == pytest.approx((0.9 + 0.75 + 0.9) / 3)
    assert cats["robustness"]["score"] == pytest.approx(0.6)  # worst-case accuracy; drops excluded
    assert cats["fairness"]["score"] == pytest.approx(0.9)  # gap -0.1 from ideal 0, scale 1
    assert cats["calibration"]["n_tasks"] == cats["robustness"]["n_tasks"] == 1
    task = row["tasks"][0]
    where = {m["metric"]: (m["category"], m["counted"]) for m in task["metrics"]}
    assert where["ece"] == ("calibration", True) and where["ece_equal_width"] == ("calibration", False)
    assert where["acc_drop@typo"] == ("robustness", False) and where["acc"] == ("capability", True)
    lo, hi = cats["calibration"]["ci"]
    assert lo < cats["calibration"]["score"] < hi


def test_a_definition_without_the_new_categories_ignores_them(tmp_path):
    write_run(tmp_path, "m", {"t": record_spec({"acc": entry(0.8, "higher", (0.7, 0.9)),
                                                "ece": own(0.1, "lower", "calibration")})})
    store = open_store(tmp_path)
    try:
        by_model = latest_records_by_model(store)
    finally:
        store.close()
    definition = parse_definition({"categories": {"capability": 1, "calibration": 0}}, "inline")
    row = build_leaderboard(by_model, definition)["models"][0]
    assert row["counted_categories"] == ["capability"] and row["overall"]["score"] == pytest.approx(0.8)
    assert row["categories"]["calibration"]["counted"] is False
