"""Ranking with uncertainty: efficiency only with repeats, rank ranges where intervals overlap, partial coverage
marked and sorted last, in the JSON, the site and the terminal. Planted records with known answers.
"""

from __future__ import annotations

import json
import math

import pytest
from lb_records import entry, fairness_record, privacy_record, record_spec, write_run
from scipy import stats

from evalsuite.cli import main
from evalsuite.leaderboards.aggregate import build_leaderboard, timings_by_model
from evalsuite.leaderboards.definition import load_definition
from evalsuite.leaderboards.ranking import rank_models
from evalsuite.leaderboards.results import latest_records_by_model, open_store

EN_DASH = "\u2013"


def capability(acc, half=0.05, wall=1.0, tokens=1000):
    """Energy as a 10 W machine would use over `wall` seconds, over `tokens` samples."""
    return record_spec({"acc": entry(acc, "higher", (acc - half, acc + half), 200)}, wall=wall, tokens=tokens,
                       energy=(10.0 * wall, tokens))


def build(results, capsys, definition="default"):
    capsys.readouterr()
    out = results / "site"
    assert main(["leaderboard", "build", "--results", str(results), "--out", str(out), "--definition",
                 definition]) == 0
    text = capsys.readouterr().out
    board = json.loads((out / "leaderboard.json").read_text())
    return board, {m["model"]: m for m in board["models"]}, text


def test_two_copies_of_one_model_tie_whatever_the_machine_load(tmp_path, capsys):
    """Same records, different energy (machine load): efficiency is reported but weighs 0, so the copies cannot swap."""
    for name, wall in (("copy-a", 1.0), ("copy-b", 1.7)):
        write_run(tmp_path, name, {"qa": capability(0.70, wall=wall), "fair": fairness_record()})
    write_run(tmp_path, "weaker", {"qa": capability(0.30), "fair": fairness_record()})
    board, rows, text = build(tmp_path, capsys)
    a, b = rows["copy-a"], rows["copy-b"]
    assert a["categories"]["efficiency"]["score"] > b["categories"]["efficiency"]["score"]  # the load did differ
    assert not a["categories"]["efficiency"]["counted"] and not b["categories"]["efficiency"]["counted"]
    assert a["overall"] == b["overall"]
    assert a["rank_label"] == b["rank_label"] == f"1{EN_DASH}2" and a["tied_with"] == ["copy-b"]
    assert rows["weaker"]["rank_label"] == "3" and rows["weaker"]["tied_with"] == []
    lines = {line.split()[-1] if "tied" not in line else line.split()[-4]: line for line in text.splitlines()[1:-1]}
    assert lines["copy-a"].startswith(f"1{EN_DASH}2") and "(tied with copy-b)" in lines["copy-a"]
    assert lines["weaker"].startswith("3 ")
    # machine load reversed: the same ranking
    write_run(tmp_path, "copy-a", {"qa": capability(0.70, wall=1.9), "fair": fairness_record()})
    _, again, _ = build(tmp_path, capsys)
    assert {m: r["rank_label"] for m, r in again.items()} == {m: r["rank_label"] for m, r in rows.items()}


def test_efficiency_counts_with_repeats_and_carries_a_t_interval(tmp_path, capsys):
    walls = {"t1": [1.0, 1.25, 0.9], "t2": [2.0, 2.6, 2.2]}
    tokens = {"t1": 1000, "t2": 3000}
    for i in range(3):
        write_run(tmp_path, "timed", {t: capability(0.6, wall=walls[t][i], tokens=tokens[t]) for t in walls})
    write_run(tmp_path, "once", {t: capability(0.6, wall=walls[t][0], tokens=tokens[t]) for t in walls})
    _, rows, _ = build(tmp_path, capsys)
    eff = rows["timed"]["categories"]["efficiency"]
    # oracle: per task, log-scale scores of each timing, Student-t 95% interval (scipy), tasks averaged with the
    # analytic combination of independent intervals (sqrt of summed squared half-widths / number of tasks)
    means, halves = [], []
    for t, ws in walls.items():
        scores = [math.log(100 / (10 * w / tokens[t])) / math.log(100 / 1e-4) for w in ws]  # J/sample, log scale
        low, high = stats.t.interval(0.95, len(scores) - 1, loc=sum(scores) / 3, scale=stats.sem(scores))
        means.append(sum(scores) / 3)
        halves.append((high - low) / 2)
    mean, half = sum(means) / 2, math.sqrt(sum(h * h for h in halves)) / 2
    assert eff["counted"] and eff["score"] == pytest.approx(mean)
    assert eff["ci"] == pytest.approx([mean - half, mean + half], rel=1e-4)
    assert rows["timed"]["efficiency"]["repeats"] == 3
    assert rows["timed"]["overall"]["score"] == pytest.approx(((0.6 + 0.6) / 2 + mean) / 2)
    # "once" was timed once per task: efficiency reported, not counted; the two models are scored on different
    # category sets, so "once" is not ranked against "timed"
    assert not rows["once"]["categories"]["efficiency"]["counted"]
    assert rows["timed"]["rank"] == 1 and rows["once"]["partial"] and rows["once"]["rank"] is None
    assert rows["once"]["coverage_label"] == "partial: 1/7 categories (no efficiency)"


def test_partial_coverage_is_never_ranked_above_full_coverage(tmp_path, capsys):
    write_run(tmp_path, "full-1", {"qa": capability(0.6), "fair": fairness_record()})
    write_run(tmp_path, "full-2", {"qa": capability(0.5, half=0.01), "fair": fairness_record(spd=-0.4)})
    write_run(tmp_path, "partial", {"qa": capability(0.99, half=0.005)})  # the best capability, one category
    board, rows, text = build(tmp_path, capsys)
    assert rows["partial"]["overall"]["score"] > rows["full-1"]["overall"]["score"]  # higher, yet after them
    assert [m["model"] for m in board["models"]] == ["full-1", "full-2", "partial"]
    assert rows["partial"]["rank"] is None and rows["partial"]["rank_label"] == ""
    assert rows["partial"]["coverage_label"] == "partial: 1/7 categories (no fairness)"
    assert board["ranking"]["reference_categories"] == ["capability", "fairness"]
    # text output: ranked rows first, the partial one marked
    body = text.splitlines()[1:-1]
    assert [line.split()[-1] for line in body[:2]] == ["full-1", "full-2"]
    assert body[2].startswith("- ") and "partial  (partial: 1/7 categories (no fairness))" in body[2]
    # the site: the model page says it is not ranked, and why
    page = next((tmp_path / "site" / "models").glob("partial-*.html")).read_text()
    assert "Not ranked \u2014 partial: 1/7 categories (no fairness)" in page


def test_equally_large_but_different_category_sets_are_not_ranked_together(tmp_path, capsys):
    write_run(tmp_path, "a", {"qa": capability(0.5), "fair": fairness_record()})
    write_run(tmp_path, "b", {"qa": capability(0.4), "fair": fairness_record()})
    write_run(tmp_path, "c", {"qa": capability(0.9), "dp": privacy_record(2.0)})
    _, rows, _ = build(tmp_path, capsys)
    assert rows["a"]["rank"] == 1 and rows["b"]["rank"] is not None and rows["c"]["rank"] is None
    assert rows["c"]["coverage_label"] == "partial: 2/7 categories (no fairness, has privacy)"


def _planted(name, score, low, high, categories=("capability",)):
    return {"model": name, "overall": {"score": score, "ci": [low, high]}, "counted_categories": list(categories),
            "coverage": len(categories), "coverage_of": 1}


def test_rank_ranges_follow_interval_overlap():
    """Hand-worked: B [.86,.96] A [.80,.90] D [.58,.81] C [.50,.60]; a rank counts the models wholly above."""
    models = [_planted("A", 0.85, 0.80, 0.90), _planted("B", 0.91, 0.86, 0.96), _planted("C", 0.55, 0.50, 0.60),
              _planted("D", 0.70, 0.58, 0.81)]
    ranked, summary = rank_models(models, ["capability"])
    got = {m["model"]: (m["rank_label"], m["tied_with"]) for m in ranked}
    assert [m["model"] for m in ranked] == ["B", "A", "D", "C"]
    assert got == {"B": (f"1{EN_DASH}2", ["A"]), "A": (f"1{EN_DASH}3", ["B", "D"]),
                   "D": (f"2{EN_DASH}4", ["A", "C"]), "C": (f"3{EN_DASH}4", ["D"])}
    assert summary["n_ranked"] == 4 and summary["n_partial"] == 0
    separated, _ = rank_models([_planted("x", 0.9, 0.85, 0.95), _planted("y", 0.5, 0.45, 0.55)], ["capability"])
    assert [(m["model"], m["rank_label"]) for m in separated] == [("x", "1"), ("y", "2")]


def test_build_leaderboard_without_the_store_treats_each_task_as_timed_once(tmp_path):
    for _ in range(3):
        write_run(tmp_path, "m", {"qa": capability(0.6)})
    store = open_store(tmp_path)
    try:
        records, timings = latest_records_by_model(store), timings_by_model(store)
    finally:
        store.close()
    definition = load_definition("default")
    assert len(timings["m"]["qa"]) == 3
    assert build_leaderboard(records, definition, timings=timings)["models"][0]["efficiency"]["counted"]
    assert not build_leaderboard(records, definition)["models"][0]["efficiency"]["counted"]


def test_terminal_output_escapes_control_characters_in_model_names(tmp_path, capsys):
    evil = "m\x1b[2J\rforged\nline"
    write_run(tmp_path, evil, {"qa": capability(0.6)})
    _, _, text = build(tmp_path, capsys)
    assert "\x1b" not in text and "\r" not in text
    assert "m\\x1b[2J\\rforged\\nline" in text and len(text.splitlines()) == 3  # header, one row, "written"
