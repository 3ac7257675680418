"""Normalisation, CI propagation and category aggregation against closed forms and a Monte Carlo oracle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from lb_records import entry, explain_record, fairness_record, mc_samples, privacy_record, record_spec, write_run

from evalsuite.errors import UserError
from evalsuite.leaderboards.aggregate import build_leaderboard, combine
from evalsuite.leaderboards.definition import load_definition, parse_definition
from evalsuite.leaderboards.normalise import Rule, Score, normalise
from evalsuite.leaderboards.results import latest_records_by_model, load_samples, open_store


def test_chance_normalisation_of_a_k_way_choice():
    # (raw - 1/k) / (1 - 1/k): 0.625 on 4 choices is halfway between chance and perfect
    s = normalise(entry(0.625, "higher", (0.5, 0.75)), Rule(chance=4))
    assert s.value == pytest.approx(0.5)
    assert s.ci == pytest.approx(((0.5 - 0.25) / 0.75, (0.75 - 0.25) / 0.75))
    assert normalise(entry(0.25, "higher"), Rule(chance=4)).value == pytest.approx(0.0)
    assert normalise(entry(0.1, "higher"), Rule(chance=4)).value < 0  # worse than chance is not clipped


def test_lower_is_better_interval_is_mapped_and_swapped():
    s = normalise(entry(2.0, "lower", (1.5, 3.0)), Rule(baseline=8, best=0))
    assert s.value == pytest.approx(6 / 8)
    assert s.ci == pytest.approx((5 / 8, 6.5 / 8))  # the worse value (3.0) is now the lower end


def test_ideal_metric_folds_at_the_ideal():
    # stereotype rate, ideal 0.5: 0.6 is 0.1 away, scale 0.5 -> 0.8; a CI straddling 0.5 reaches a score of 1
    s = normalise(entry(0.6, "ideal", (0.45, 0.7), ideal_value=0.5), Rule())
    assert s.value == pytest.approx(0.8)
    assert s.ci == pytest.approx((1 - 0.2 / 0.5, 1.0))
    # SPD, ideal 0 (scale 1): an interval entirely below the ideal keeps its near end
    s = normalise(entry(-0.3, "ideal", (-0.4, -0.2), ideal_value=0.0), Rule())
    assert s.value == pytest.approx(0.7) and s.ci == pytest.approx((0.6, 0.8))
    # disparate impact, ideal 1: DI 0.5 scores 0.5; an explicit scale overrides
    assert normalise(entry(0.5, "ideal", ideal_value=1.0), Rule()).value == pytest.approx(0.5)
    assert normalise(entry(0.5, "ideal", ideal_value=1.0), Rule(scale=0.25)).value == pytest.approx(-1.0)


def test_combined_interval_matches_monte_carlo_of_independent_normals():
    """The analytic weighted-mean interval equals the percentile interval of simulated independent errors."""
    items = [(Score(0.6, (0.5, 0.7)), 1.0), (Score(0.2, (0.1, 0.3)), 2.0), (Score(0.9, (0.86, 0.94)), 0.5)]
    got = combine(items)
    z = 1.959963984540054
    rng = np.random.default_rng(0)
    draws = sum(w * rng.normal(s.value, (s.ci[1] - s.ci[0]) / (2 * z), 400_000) for s, w in items) / 3.5
    assert got["score"] == pytest.approx((0.6 + 0.4 + 0.45) / 3.5)
    assert got["ci"] == pytest.approx(np.quantile(draws, [0.025, 0.975]), abs=2e-3)
    assert got["ci_complete"]
    partial = combine([(Score(0.5, None), 1.0), (Score(0.7, (0.6, 0.8)), 1.0)])
    assert partial["ci"] == pytest.approx((0.6 - 0.05, 0.6 + 0.05)) and not partial["ci_complete"]


def test_leaderboard_from_a_real_run_and_synthetic_audit_records(demo_results, tmp_path):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(demo_results[0], results)
    write_run(results, "model-b", {"evalsuite/demo_facts_mc": record_spec(
        {"acc": entry(0.55, "higher", (0.4, 0.7), 40)}, samples=mc_samples([1] * 22 + [0] * 18), wall=2.0,
        tokens=500, energy=(20.0, 500)), "fair": fairness_record(), "dp": privacy_record(epsilon=4.0), "xai": explain_record()})
    store = open_store(results)
    try:
        by_model = latest_records_by_model(store)
    finally:
        store.close()
    board = build_leaderboard(by_model, load_definition("default"))
    rows = {m["model"]: m for m in board["models"]}
    assert set(rows) == {"demo", "model-b"}

    # capability of the real run: chance from the samples' own n_choices, accuracy from the samples
    samples = load_samples(by_model["demo"]["evalsuite/demo_facts_mc"])
    acc = np.mean([s["scores"]["acc"] for s in samples])
    chance = np.mean([1 / s["scores"]["n_choices"] for s in samples])
    assert rows["demo"]["categories"]["capability"]["score"] == pytest.approx((acc - chance) / (1 - chance))
    assert rows["demo"]["categories"]["fairness"] is None
    # calibration: the multiple-choice record's own calibration metrics count there, by the definition's rules
    cal = by_model["demo"]["evalsuite/demo_facts_mc"]["metrics"]
    assert all(cal[m]["category"] == "calibration" for m in ("ece", "brier", "selective_auc"))
    expected = np.mean([1 - cal["ece"]["value"], 1 - cal["brier"]["value"] / 2, cal["selective_auc"]["value"]])
    assert rows["demo"]["categories"]["calibration"]["score"] == pytest.approx(expected)
    assert rows["demo"]["categories"]["calibration"]["n_tasks"] == 1
    # efficiency from one timing is reported but not counted: coverage is capability and calibration
    assert rows["demo"]["categories"]["efficiency"]["counted"] is False and rows["demo"]["coverage"] == 2

    b = rows["model-b"]["categories"]
    assert b["capability"]["score"] == pytest.approx((0.55 - 0.25) / 0.75)
    # fairness: SPD -0.05 (ideal 0, scale 1) -> 0.95, DI 0.93 (ideal 1) -> 0.93, accuracy 0.81 -> 0.81, equal weights
    assert b["fairness"]["score"] == pytest.approx((0.95 + 0.93 + 0.81) / 3)
    # privacy: epsilon 4 on the 10..0 scale, mia_auc 0.53 (ideal 0.5, scale 0.5), tpr 0.012, bound not violated;
    # delta is excluded by the definition
    assert b["privacy"]["score"] == pytest.approx((0.6 + 0.94 + 0.988 + 1.0) / 4)
    assert not b["privacy"]["ci_complete"]  # epsilon has no interval
    # explainability: comprehensiveness 0.4, sufficiency 0.2 -> 0.8; infidelity 3.5 is unbounded without a rule and
    # random_baseline_* is excluded
    assert b["explainability"]["score"] == pytest.approx(0.6)
    xai = next(t for t in rows["model-b"]["tasks"] if t["task"] == "xai")
    notes = {m["metric"]: m["note"] for m in xai["metrics"]}
    assert "unbounded" in notes["infidelity"] and notes["random_baseline_comprehensiveness"]
    # efficiency: 20 J over 500 samples (estimated) on a log scale from 100 J to 1e-4 J per sample; one
    # measurement, so weight 0 in the overall, and labelled estimated
    assert b["efficiency"]["score"] == pytest.approx(math.log(100 / 0.04) / math.log(1e6))
    assert b["efficiency"]["ci"] is None and not b["efficiency"]["counted"]
    assert b["efficiency"]["label"] == "estimated" and rows["model-b"]["efficiency"]["joules_per_sample"] == 0.04
    assert "needs 3 runs" in b["efficiency"]["note"]
    overall = rows["model-b"]["overall"]
    assert overall["score"] == pytest.approx(np.mean([c["score"] for n, c in b.items()
                                                      if n != "efficiency" and c is not None]))
    assert overall["ci"][0] < overall["score"] < overall["ci"][1]
    assert rows["model-b"]["coverage"] == 4 and rows["model-b"]["coverage_of"] == 7
    # model-b is the only model scored on all four categories: ranked; demo (capability only) is partial
    assert [m["model"] for m in board["models"]] == ["model-b", "demo"]
    assert rows["model-b"]["rank"] == 1 and rows["demo"]["rank"] is None and rows["demo"]["partial"]
    assert rows["demo"]["coverage_label"] == ("partial: 2/7 categories (no fairness, no explainability, no privacy, "
                                              "has calibration)")
    # plot data travels with the row
    assert [p["epsilon"] for p in rows["model-b"]["privacy_utility"]] == [1.0, 3.0, None]
    assert {g["group"] for g in rows["model-b"]["fairness_groups"]} == {"sex=0", "sex=1"}
    json.dumps(board, allow_nan=False)  # the site embeds it: it must be strict JSON


def test_newest_record_per_task_wins_and_weights_apply(tmp_path):
    write_run(tmp_path, "m", {"t1": record_spec({"acc": entry(0.2, "higher", (0.1, 0.3))})})
    write_run(tmp_path, "m", {"t1": record_spec({"acc": entry(0.9, "higher", (0.8, 1.0))}),
                              "t2": record_spec({"acc": entry(0.5, "higher", (0.4, 0.6))})})
    store = open_store(tmp_path)
    try:
        by_model = latest_records_by_model(store)
    finally:
        store.close()
    definition = parse_definition({"categories": {"capability": 1},
                                   "tasks": {"t1": {"weight": 3, "metrics": {"acc": {}}},
                                             "t2": {"metrics": {"acc": {"chance": 2}}}}}, "inline")
    row = build_leaderboard(by_model, definition)["models"][0]
    assert row["categories"]["capability"]["score"] == pytest.approx((3 * 0.9 + 1 * 0.0) / 4)


def test_chance_auto_without_choice_counts_is_a_user_error(tmp_path):
    write_run(tmp_path, "m", {"t": record_spec({"acc": entry(0.5)}, samples=[{"doc_id": 0, "scores": {"acc": 1}}])})
    store = open_store(tmp_path)
    by_model = latest_records_by_model(store)
    store.close()
    definition = parse_definition({"tasks": {"t": {"metrics": {"acc": {"chance": "auto"}}}}}, "inline")
    with pytest.raises(UserError, match="n_choices"):
        build_leaderboard(by_model, definition)


def test_invalid_definition_reports_every_problem_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: {capability: 1, vibes: 2}\ntasks:\n  t: {metrics: {acc: {chance: 1, colour: red}}}\n"
                   "  u: {}\nefficiency: {worst_joules_per_sample: 1, best_joules_per_sample: 5}\n")
    with pytest.raises(UserError) as info:
        load_definition(bad)
    message = str(info.value)
    for fragment in ("vibes", "unknown key 'colour'", "chance must be", "tasks.u needs", "best_joules_per_sample"):
        assert fragment in message
    assert "\n" not in message
    with pytest.raises(UserError, match="neither a file"):
        load_definition(Path("no-such-board"))
