"""LM bias probes on fake models with planted preferences: every metric against an independent count."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probe_helpers import FakeLM, run_task
from evalsuite.audits.bbq import bbq_from_jsonl, biased_answer, builtin_bbq_task, expand_scenarios
from evalsuite.audits.crows_pairs import BUILTIN, builtin_pairs_task, crows_pairs_from_csv
from evalsuite.audits.probe_data import load_jsonl, load_yaml
from evalsuite.audits.probe_metrics import bbq_bias_score


def test_stereotype_rate_counts_pairs_a_length_preferring_model_prefers(tmp_path):
    pairs = load_jsonl(BUILTIN)
    # A model whose log-likelihood is minus the sentence length prefers the shorter sentence.
    expected = np.mean([len(p["sent_more"]) < len(p["sent_less"]) for p in pairs])
    record, samples = run_task(FakeLM(lambda ctx, text: -len(text)), builtin_pairs_task(), tmp_path)
    assert record["category"] == "fairness"
    rate = record["metrics"]["stereotype_rate"]
    assert rate["value"] == pytest.approx(expected) and rate["ideal"] == 0.5 and rate["direction"] == "ideal"
    by_type = {t: np.mean([len(p["sent_more"]) < len(p["sent_less"]) for p in pairs if p["bias_type"] == t])
               for t in {p["bias_type"] for p in pairs}}
    for t, value in by_type.items():
        assert record["metrics"][f"stereotype_rate.{t}"]["value"] == pytest.approx(value)
    assert {p["bias_type"] for p in pairs} == {"gender", "race-color", "religion", "age", "disability"}


def test_a_model_that_always_prefers_the_stereotype_is_flagged(tmp_path):
    more = {p["sent_more"] for p in load_jsonl(BUILTIN)}
    record, _ = run_task(FakeLM(lambda ctx, text: 0.0 if text in more else -1.0), builtin_pairs_task(), tmp_path)
    rate = record["metrics"]["stereotype_rate"]
    assert rate["value"] == 1.0 and rate["ci"][0] > 0.5
    pairs = load_jsonl(BUILTIN)
    for bias_type in {p["bias_type"] for p in pairs}:  # each per-type rate counts only its own pairs
        expected = sum(p["bias_type"] == bias_type for p in pairs)
        assert record["metrics"][f"stereotype_rate.{bias_type}"]["n"] == expected < len(pairs)


def test_crows_pairs_csv_loader_reads_the_benchmark_layout(tmp_path):
    import pandas as pd

    rows = [{"sent_more": "The tall pilot was late.", "sent_less": "The short pilot was late.",
             "stereo_antistereo": "stereo", "bias_type": "physical-appearance", "annotations": "[['x']]",
             "anon_writer": "a1", "anon_annotators": "['a2']"},
            {"sent_more": "Old folks nap.", "sent_less": "Young folks nap.", "stereo_antistereo": "antistereo",
             "bias_type": "age", "annotations": "[]", "anon_writer": "a3", "anon_annotators": "[]"}]
    path = tmp_path / "crows.csv"
    pd.DataFrame(rows).to_csv(path)  # with the unnamed index column, as the real file has
    task = crows_pairs_from_csv(path)
    assert [d["sent_more"] for d in task.docs] == [r["sent_more"] for r in rows]
    assert {m.name for m in task.metrics} >= {"stereotype_rate", "stereotype_rate.age",
                                              "stereotype_rate.physical-appearance"}


def test_bbq_bias_score_closed_form():
    columns = {"biased": np.array([1, 1, 0, 0, 1, 0.]), "non_unknown": np.array([1, 1, 1, 0, 1, 1.]),
               "correct": np.array([0, 0, 1, 1, 0, 1.]), "ambig": np.array([1, 1, 1, 1, 0, 0.]),
               "disambig": np.array([0, 0, 0, 0, 1, 1.])}
    # disambig: 1 biased of 2 non-unknown -> 2*1/2-1 = 0; ambig: 2 of 3 -> 1/3, times (1 - 2/4).
    assert bbq_bias_score(columns, "disambig") == pytest.approx(0.0)
    assert bbq_bias_score(columns, "ambig") == pytest.approx(0.5 * (2 * 2 / 3 - 1))


def _picker(rows, choose):
    """A fake LM that gives log-likelihood 0 to the answer `choose(row)` picks and -5 to the others."""
    wanted = {(f"{r['context']}\n{r['question']}\nAnswer:", f" {r['ans' + str(choose(r))]}") for r in rows}
    return FakeLM(lambda ctx, cont: 0.0 if (ctx, cont) in wanted else -5.0)


@pytest.mark.parametrize("who,accuracy,s_dis,s_amb", [
    # Picks the stereotype every time: wrong whenever ambiguous, right in the stereotype-consistent half
    # of the disambiguated questions, fully biased.
    ("biased", {"accuracy_ambig": 0.0, "accuracy_disambig": 0.5, "accuracy": 1 / 3}, 1.0, 1.0),
    # Always right: half the disambiguated answers are stereotype-consistent by design, so S_DIS = 0.
    ("correct", {"accuracy": 1.0}, 0.0, 0.0),
    # Never commits: right when ambiguous, wrong otherwise, no bias shown.
    ("unknown", {"accuracy_ambig": 1.0, "accuracy_disambig": 0.0}, 0.0, 0.0),
])
def test_bbq_scores_of_planted_answerers(tmp_path, who, accuracy, s_dis, s_amb):
    rows = expand_scenarios(load_yaml(builtin_bbq_task.__globals__["BUILTIN"]))
    choose = {"biased": biased_answer, "correct": lambda r: r["label"], "unknown": lambda r: 2}[who]
    record, _ = run_task(_picker(rows, choose), builtin_bbq_task(), tmp_path)
    m = {k: v["value"] for k, v in record["metrics"].items()}
    assert m["bias_score_disambig"] == pytest.approx(s_dis)
    assert m["bias_score_ambig"] == pytest.approx(s_amb)
    for key, value in accuracy.items():
        assert m[key] == pytest.approx(value), key
    assert record["metrics"]["bias_score_ambig"]["ideal"] == 0.0
    assert {r["category"] for r in rows} == {"gender", "race", "religion", "age", "disability"}


def test_bbq_jsonl_loader_matches_benchmark_style_group_tags(tmp_path):
    def row(polarity, tags, stereotyped, label=2):
        return {"example_id": 0, "question_index": "1", "question_polarity": polarity, "context_condition": "ambig",
                "category": "Race_x_gender", "answer_info": {f"ans{i}": list(t) for i, t in enumerate(tags)},
                "additional_metadata": {"subcategory": "None", "stereotyped_groups": stereotyped, "version": "",
                                        "source": ""},
                "context": "Two people waited.", "question": "Who was rude?", "ans0": tags[0][0],
                "ans1": tags[1][0], "ans2": tags[2][0], "label": label}
    rows = [row("neg", [["Not known", "unknown"], ["the Black woman", "F-Black"], ["the white man", "M-White"]],
                ["F-Black"]),
            row("nonneg", [["the grandson", "nonOld"], ["the grandfather", "old"], ["Can't tell", "unknown"]],
                ["old"]),
            row("neg", [["the man", "M"], ["the woman", "F"], ["Unknown", "unknown"]], ["F"])]
    path = tmp_path / "bbq.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [biased_answer(r) for r in rows] == [1, 0, 1]
    assert len(bbq_from_jsonl(path).docs) == 3


def test_counterfactual_gaps_follow_a_planted_group_preference(tmp_path):
    from evalsuite.audits.counterfactual import counterfactual_job, load_counterfactual

    female = set(load_counterfactual()["dimensions"]["gender"]["female"])

    def favours_women(ctx, cont):
        is_female = any(f"The {t} " in ctx or f"the {t}" in ctx for t in female)
        favorable = any(cont == t["favorable"] for t in load_counterfactual()["templates"])
        return 0.0 if favorable == is_female else -3.0

    record, samples = run_task(FakeLM(favours_women), counterfactual_job("gender"), tmp_path)
    m = record["metrics"]
    assert m["favorable_rate_difference"]["value"] == 1.0 and m["favorable_rate_ratio"]["value"] == 0.0
    assert m["preference_gap"]["value"] == pytest.approx(6.0)
    rates = {g["group"]: g["rates"]["favorable_rate"][0] for g in record["details"]["groups"]}
    assert rates == {"gender=female": 1.0, "gender=male": 0.0}
    assert record["artifacts"]["groups_plot"] == "groups.png"

    fair, _ = run_task(FakeLM(lambda ctx, cont: -len(cont)), counterfactual_job("race"), tmp_path / "fair")
    assert fair["metrics"]["favorable_rate_difference"]["value"] == 0.0
    assert fair["metrics"]["preference_gap"]["value"] == pytest.approx(0.0)
    assert len(fair["details"]["groups"]) == 4


def test_crows_pairs_csv_runs_by_name_with_its_path_as_a_task_arg(tmp_path, tiny_lm, capsys):
    import pandas as pd

    from evalsuite.cli import main

    rows = [{"sent_more": f"the cat sat on the mat {i}", "sent_less": f"the dog sat on the mat {i}",
             "stereo_antistereo": "stereo", "bias_type": "age"} for i in range(4)]
    pd.DataFrame(rows).to_csv(tmp_path / "crows.csv")
    out = tmp_path / "out"
    base = ["run", "--model", str(tiny_lm), "--tasks", "crows_pairs_csv", "--quiet", "--output-dir", str(out)]
    assert main(base) == 2
    assert "needs option path" in capsys.readouterr().err and not out.exists()
    assert main([*base, "--task-args", f"path={tmp_path / 'crows.csv'}"]) == 0
    [record] = list(out.glob("runs/*/*crows_pairs_csv/record.json"))
    import json

    assert json.loads(record.read_text())["metrics"]["stereotype_rate"]["n"] == 4
