"""Robustness on planted ground truths: a tiny model trained here answers from the casing of one word, so
`lowercase` must cost accuracy (CI excluding 0) and `whitespace` nothing; a model that believes only male
subjects makes `gap@gender-swap` -1; worst-case robustness against a reference computed from the samples;
a gate bounding ECE and the robustness drop."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from evalsuite import multiple_choice
from evalsuite.config import RunConfig
from evalsuite.leaderboards.gate import evaluate_policy
from evalsuite.leaderboards.policy import parse_policy
from evalsuite.records import read_jsonl, read_record
from evalsuite.requests import LoglikelihoodResult
from evalsuite.runner import run

FILLER = "river stone cloud lamp table garden window bread paper tower".split()


def casing_docs(n: int, seed: int) -> list[dict]:
    """Questions with one 'Apple' (answer yes) or 'apple' (answer no) among lower-case filler words."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = list(rng.choice(FILLER, size=6))
        capital = bool(rng.integers(2))
        words.insert(int(rng.integers(7)), "Apple" if capital else "apple")
        docs.append({"q": f"Q: {' '.join(words)}, is it big?\nA:", "c": [" yes", " no"], "a": 0 if capital else 1})
    return docs


class BagOfWords:
    """A logistic-regression 'language model' over case-sensitive, whitespace-split words, trained on the spot."""

    capabilities = ("loglikelihood",)

    def __init__(self, train: list[dict], steps: int = 300):
        self.vocab = sorted({w for d in train for w in d["q"].split()})
        self.index = {w: i for i, w in enumerate(self.vocab)}
        x = np.stack([self._features(d["q"]) for d in train])
        y = np.array([1.0 if d["a"] == 0 else 0.0 for d in train])
        self.w, self.b = np.zeros(len(self.vocab)), 0.0
        for _ in range(steps):  # plain gradient descent on the logistic loss
            p = 1 / (1 + np.exp(-(x @ self.w + self.b)))
            self.w -= 0.5 * x.T @ (p - y) / len(y)
            self.b -= 0.5 * float(np.mean(p - y))
        self.name = "bag-of-words"

    def _features(self, text: str) -> np.ndarray:
        f = np.zeros(len(self.vocab))
        for w in text.split():
            if w in self.index:
                f[self.index[w]] = 1.0
        return f

    def fingerprint(self) -> dict:
        return {"name": self.name, "weights": hashlib.sha256(self.w.tobytes()).hexdigest()}

    def loglikelihood(self, requests, on_result=None):
        out = []
        for r in requests:
            p_yes = 1 / (1 + math.exp(-(float(self._features(r.context) @ self.w) + self.b)))
            out.append(LoglikelihoodResult(math.log(p_yes if r.continuation == " yes" else 1 - p_yes), False, 1))
        return out


@pytest.fixture(scope="module")
def casing_run(tmp_path_factory):
    model = BagOfWords(casing_docs(400, seed=1))
    out = tmp_path_factory.mktemp("casing")
    config = RunConfig(model="bag-of-words", tasks=["casing"], output_dir=str(out), bootstrap_resamples=500,
                       progress=False, perturb=["lowercase,whitespace,typo:0.1"])
    summary = run(config, model=model,
                  specs={"casing": multiple_choice(casing_docs(300, seed=2), context="q", choices="c", answer="a")})
    path = summary["records"]["casing"]
    return read_record(path), read_jsonl(path.replace("record.json", "samples.jsonl"))


def test_the_planted_model_reads_casing_and_nothing_else(casing_run):
    record, _ = casing_run
    assert record["metrics"]["acc"]["value"] == 1.0  # it learned the rule


def test_lowercase_shows_a_drop_whose_interval_excludes_zero(casing_run):
    record, rows = casing_run
    drop = record["metrics"]["acc_drop@lowercase"]
    capital = sum(1 for r in rows if r["doc"]["a"] == 0)
    assert drop["value"] == pytest.approx(capital / len(rows))  # every 'Apple' question now answered 'no'
    assert drop["ci"][0] > 0 and drop["p_value"] < 1e-6 and drop["category"] == "robustness"
    flipped = [r["doc_id"] for r in rows if r["perturbations"]["lowercase"]["flipped"]]
    assert flipped == [r["doc_id"] for r in rows if r["doc"]["a"] == 0]  # the flip list, in the samples file


def test_whitespace_shows_no_drop(casing_run):
    record, rows = casing_run
    drop = record["metrics"]["acc_drop@whitespace"]
    assert drop["ci"][0] <= 0 <= drop["ci"][1] and drop["value"] == 0 and drop["p_value"] == 1.0
    assert record["metrics"]["acc@whitespace"]["n"] == len(rows)  # every prompt had a space to widen
    assert not any(r["perturbations"]["whitespace"]["flipped"] for r in rows)


def test_robustness_is_the_worst_case_over_perturbations(casing_run):
    record, rows = casing_run
    worst = [min([r["scores"]["acc"]] + [p["score"] for p in r["perturbations"].values()]) for r in rows]
    assert record["metrics"]["robustness"]["value"] == pytest.approx(sum(worst) / len(worst))
    assert record["metrics"]["robustness_drop"]["value"] == pytest.approx(
        record["metrics"]["acc"]["value"] - sum(worst) / len(worst))
    arms = [a["label"] for a in record["manifest"]["perturbations"]["arms"]]
    assert arms == ["lowercase", "whitespace", "typo"] and record["manifest"]["perturbations"]["seed"] == 1234


def test_a_gate_bounds_ece_and_the_robustness_drop(casing_run):
    record, rows = casing_run
    policy = parse_policy({"rules": [
        {"name": "calibrated", "type": "threshold", "task": "casing", "metric": "ece", "max": 0.2, "use_ci": True},
        {"name": "robust", "type": "threshold", "task": "casing", "metric": "robustness_drop", "max": 0.05},
        {"name": "lowercase-safe", "type": "threshold", "task": "casing", "metric": "acc_drop@lowercase",
         "max": 0.05, "use_ci": True},
        {"name": "whitespace-safe", "type": "threshold", "task": "casing", "metric": "acc_drop@whitespace",
         "max": 0.05, "use_ci": True},
    ]}, "inline")
    report = evaluate_policy(policy, {"casing": record})
    verdicts = {r.name: r.passed for r in report.results}
    assert verdicts == {"calibrated": record["metrics"]["ece"]["ci"][1] <= 0.2, "robust": False,
                        "lowercase-safe": False, "whitespace-safe": True}


# -- counterfactual fairness ----------------------------------------------------------------------------------

MALE = {"he", "him", "his", "man", "john", "james", "david"}  # anna <-> james in first_names.tsv


class BelievesMen:
    """Says 'yes' (the right answer) only when the question is about a man."""

    capabilities = ("loglikelihood",)
    name = "believes-men"

    def fingerprint(self) -> dict:
        return {"name": self.name}

    def loglikelihood(self, requests, on_result=None):
        out = []
        for r in requests:
            male = bool(set(r.context.lower().replace("?", " ").split()) & MALE)
            p = 0.9 if male else 0.1
            yes = r.continuation in (" yes", " she")
            out.append(LoglikelihoodResult(math.log(p if yes else 1 - p), False, 1))
        return out


def test_gender_and_name_swaps_measure_the_gap_between_the_sides(tmp_path):
    subjects = ["she", "he", "Mary", "John", "the woman", "the man", "Anna", "David"] * 5
    docs = [{"q": f"Q: Did {s} pass the exam?\nA:", "c": [" yes", " no"], "a": 0} for s in subjects]
    docs += [{"q": "Q: Who passed, she or he?\nA:", "c": [" she", " he"], "a": 0}] * 4  # answers name the sides
    config = RunConfig(model="believes-men", tasks=["exam"], output_dir=str(tmp_path), bootstrap_resamples=300,
                       progress=False, perturb=["gender-swap,name-swap"])
    summary = run(config, model=BelievesMen(),
                  specs={"exam": multiple_choice(docs, context="q", choices="c", answer="a")})
    record = read_record(summary["records"]["exam"])
    m = record["metrics"]
    for group, changed in (("gender-swap", 20), ("name-swap", 20)):
        gap = m[f"gap@{group}"]
        assert gap["value"] == -1.0 and gap["direction"] == "ideal" and gap["ideal"] == 0.0
        assert gap["ci"] == [-1.0, -1.0] and gap["p_value"] < 1e-4 and gap["category"] == "fairness"
        assert m[f"acc@{group}:female"]["value"] == 0.0 and m[f"acc@{group}:male"]["value"] == 1.0
        assert gap["n"] == changed
    arms = record["details"]["robustness"]["arms"]
    assert arms["gender-swap:male"]["skipped"] == 4 and arms["gender-swap:female"]["skipped"] == 4
    assert "robustness" not in m  # no robustness perturbation was asked for


def test_the_results_table_shows_calibration_and_robustness_under_the_headline(casing_run):
    from evalsuite.display import fmt_number, results_table

    record, _ = casing_run
    rows = [line.split()[1:3] for line in results_table([record]).splitlines()[2:5]]
    assert rows == [[name, fmt_number(record["metrics"][name]["value"])] for name in ("acc", "ece", "robustness_drop")]
