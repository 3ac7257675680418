"""Calibration of multiple-choice answers: ECE, Brier and selective prediction against slow references
written here, on planted ground truths (a model correct exactly as often as it says, an overconfident one),
and the same numbers for a native task and its lm-eval twin."""

from __future__ import annotations

import hashlib
import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from evalsuite import multiple_choice
from evalsuite.calibration import ece, selective_curve, summarise
from evalsuite.config import RunConfig
from evalsuite.records import read_jsonl, read_record
from evalsuite.requests import LoglikelihoodResult
from evalsuite.runner import run


# -- slow references, written from the definitions -----------------------------------------------------------

def slow_probs(lls):
    top = max(lls)
    e = [math.exp(x - top) for x in lls]
    return [x / sum(e) for x in e]


def slow_calibration(all_lls, golds, bins=10):
    conf, right, brier = [], [], []
    for lls, gold in zip(all_lls, golds):
        p = slow_probs(lls)
        best = 0
        for k in range(1, len(p)):
            if p[k] > p[best]:
                best = k
        conf.append(p[best])
        right.append(1.0 if best == gold else 0.0)
        brier.append(sum((p[k] - (1.0 if k == gold else 0.0)) ** 2 for k in range(len(p))))
    n = len(conf)
    order = sorted(range(n), key=lambda i: conf[i])  # Python's sort is stable: ties keep document order
    mass = 0.0
    for b in range(bins):
        members = order[(b * n) // bins:((b + 1) * n) // bins]
        if members:
            avg_c = sum(conf[i] for i in members) / len(members)
            avg_y = sum(right[i] for i in members) / len(members)
            mass += len(members) / n * abs(avg_c - avg_y)
    width = 0.0
    for b in range(bins):
        members = [i for i in range(n) if min(int(conf[i] * bins), bins - 1) == b]
        if members:
            width += len(members) / n * abs(sum(conf[i] for i in members) / len(members)
                                            - sum(right[i] for i in members) / len(members))
    ranked = sorted(range(n), key=lambda i: -conf[i])
    accs = [sum(right[i] for i in ranked[:k]) / k for k in range(1, n + 1)]
    return {"ece": mass, "ece_equal_width": width, "brier": sum(brier) / n, "selective_auc": sum(accs) / n,
            "accs": accs}


def test_metrics_match_slow_reference_with_ties_and_uneven_bins():
    rng = np.random.default_rng(3)
    n = 137  # not a multiple of 10: uneven equal-mass bins
    lls = [list(rng.normal(0, 2, size=int(rng.integers(2, 6)))) for _ in range(n)]
    for i in range(0, n, 7):  # ties in confidence across documents
        lls[i] = [0.0, -1.0]
    golds = [int(rng.integers(0, len(x))) for x in lls]
    got = summarise(lls, golds, seed=1, n_resamples=200)
    ref = slow_calibration(lls, golds)
    for name in ("ece", "ece_equal_width", "brier", "selective_auc"):
        assert got["metrics"][name]["value"] == pytest.approx(ref[name], abs=1e-12), name
    for row in got["details"]["selective"]:
        k = math.ceil(row["coverage"] * n - 1e-9)
        assert row["accuracy"] == pytest.approx(ref["accs"][k - 1], abs=1e-12)
    assert got["details"]["selective"][-1]["accuracy"] == pytest.approx(got["details"]["accuracy"])


def test_vectorised_forms_reduce_every_resample_row_alike():
    rng = np.random.default_rng(0)
    conf, right = rng.uniform(0.2, 1, (5, 60)), (rng.random((5, 60)) < 0.6).astype(float)
    for binning in ("mass", "width"):
        assert ece(conf, right, binning=binning) == pytest.approx([ece(c, r, binning=binning)
                                                                   for c, r in zip(conf, right)])
    assert selective_curve(conf, right)[2] == pytest.approx(selective_curve(conf[2], right[2]))
    with pytest.raises(ValueError, match="binning"):
        ece(conf, right, binning="quantile")


# -- planted ground truths through the real runner -----------------------------------------------------------

class PlantedMC:
    """A multiple-choice 'model' that reports the choice probabilities planted for each question."""

    capabilities = ("loglikelihood",)

    def __init__(self, name: str, table: dict[str, list[float]]):
        self.name, self.table = name, table

    def fingerprint(self) -> dict:
        digest = hashlib.sha256(json.dumps(self.table, sort_keys=True).encode()).hexdigest()
        return {"name": self.name, "planted": digest}

    def loglikelihood(self, requests, on_result=None):
        return [LoglikelihoodResult(math.log(self.table[r.context][int(r.continuation[2:])]), False, 1)
                for r in requests]


def planted(n: int, gap: float, seed: int):
    """n 4-way questions; the top choice is right with probability c and reported with probability c + gap."""
    rng = np.random.default_rng(seed)
    docs, table = [], {}
    for i in range(n):
        c = float(rng.uniform(0.3, 0.85))
        gold = int(rng.integers(4))
        pred = gold if rng.random() < c else int((gold + rng.integers(1, 4)) % 4)
        top = c + gap
        probs = [(1 - top) / 3] * 4
        probs[pred] = top
        context = f"question {i}"
        table[context] = probs
        docs.append({"q": context, "c": [f" c{k}" for k in range(4)], "a": gold})
    return docs, table


def _run_planted(tmp_path, gap: float, name: str):
    docs, table = planted(5000, gap, seed=11 if gap else 7)
    config = RunConfig(model=name, tasks=["planted_mc"], output_dir=str(tmp_path), bootstrap_resamples=300,
                       use_cache=False, progress=False)
    summary = run(config, model=PlantedMC(name, table),
                  specs={"planted_mc": multiple_choice(docs, context="q", choices="c", answer="a")})
    return read_record(summary["records"]["planted_mc"]), summary


def test_a_model_correct_as_often_as_it_says_has_ece_within_its_interval_of_zero(tmp_path):
    record, summary = _run_planted(tmp_path, 0.0, "calibrated")
    m = record["metrics"]["ece"]
    assert m["ci"][0] == 0.0 <= m["value"] <= m["ci"][1]  # 0 lies inside the interval
    assert m["value"] < 0.03 and m["n"] == 5000 and m["category"] == "calibration"
    assert record["metrics"]["acc"]["value"] == pytest.approx(record["details"]["calibration"]["all"]["accuracy"])
    floor = record["details"]["calibration"]["all"]["noise_floor"]["mass"]
    assert m["value"] <= floor["q975"]  # no more miscalibration than sampling noise alone makes


def test_an_overconfident_model_shows_its_planted_gap(tmp_path):
    gap = 0.1
    record, summary = _run_planted(tmp_path, gap, "overconfident")
    for name in ("ece", "ece_equal_width"):
        m = record["metrics"][name]
        assert m["value"] == pytest.approx(gap, abs=0.02), name
        assert m["ci"][0] > 0.05 and m["ci"][0] <= gap <= m["ci"][1]
    reliability = record["details"]["calibration"]["all"]["reliability"]
    assert len(reliability) == 10 and sum(b["n"] for b in reliability) == 5000
    assert all(b["confidence"] > b["accuracy"] for b in reliability)  # every bin overconfident
    folder = tmp_path / "runs" / summary["run_id"] / "planted_mc"
    svg = ET.parse(folder / record["artifacts"]["reliability"]).getroot()
    assert svg.tag.endswith("svg") and len(list(svg.iter("{http://www.w3.org/2000/svg}circle"))) == 10
    rows = read_jsonl(folder / "samples.jsonl")
    assert all(0.25 < r["scores"]["confidence"] <= 1 and 0 <= r["scores"]["brier"] <= 2 for r in rows)
    assert np.mean([r["scores"]["brier"] for r in rows]) == pytest.approx(record["metrics"]["brier"]["value"])


# -- one computation for native and lm-eval tasks --------------------------------------------------------------

def test_native_task_and_its_lm_eval_twin_report_the_same_calibration_and_robustness(tiny_lm, lmeval_tasks,
                                                                                      tmp_path):
    """One run, both paths: the same prompts give the same calibration and, rewritten alike, the same robustness."""
    docs = [json.loads(line) for line in (lmeval_tasks / "data.jsonl").read_text().splitlines()]
    twin = multiple_choice(docs, context=lambda d: f"Q: {d['question']}\nA:",
                           choices=lambda d: [" " + c for c in d["choices"]], answer="label")
    config = RunConfig(model=str(tiny_lm), tasks=["toy_mc", "native_twin"], tasks_path=[str(lmeval_tasks)],
                       output_dir=str(tmp_path), bootstrap_resamples=200, progress=False,
                       perturb=["uppercase,whitespace"])
    summary = run(config, specs={"native_twin": twin})
    lm, native = (read_record(summary["records"][t]) for t in ("toy_mc", "native_twin"))
    assert lm["metrics"]["acc"]["value"] == native["metrics"]["acc"]["value"]
    for name in ("ece", "ece_equal_width", "brier", "selective_auc"):
        assert lm["metrics"][name]["value"] == pytest.approx(native["metrics"][name]["value"], abs=1e-6), name
        assert lm["metrics"][name]["category"] == "calibration"
    rows = read_jsonl(summary["records"]["toy_mc"].replace("record.json", "samples.jsonl"))
    lls = [[float(r[0]) for r in row["filtered_resps"]] for row in rows]
    ref = slow_calibration(lls, [row["target"] for row in rows])
    assert lm["metrics"]["ece"]["value"] == pytest.approx(ref["ece"], abs=1e-12)
    assert lm["artifacts"]["reliability"] == "reliability.svg"
    for name in ("acc@uppercase", "acc@whitespace", "acc_drop@uppercase", "robustness", "robustness_drop"):
        assert lm["metrics"][name]["value"] == pytest.approx(native["metrics"][name]["value"], abs=1e-9), name
        assert lm["metrics"][name]["n"] == native["metrics"][name]["n"] == 12
    assert lm["manifest"]["perturbations"]["arms"] == native["manifest"]["perturbations"]["arms"]
    assert [r["perturbations"] for r in rows] == [r["perturbations"] for r in read_jsonl(
        summary["records"]["native_twin"].replace("record.json", "samples.jsonl"))]


def test_lm_eval_sample_rows_give_the_gold_index_lm_eval_scored():
    import numpy as np

    from evalsuite.lmeval.tasks import choice_scores

    row = {"filtered_resps": [(-1.0, False), (-0.5, True)], "arguments": [("Q:", " a"), ("Q:", " b")],
           "target": np.int64(1), "acc": 1.0}
    assert choice_scores(row, " ") == ([-1.0, -0.5], 1)
    assert choice_scores({**row, "target": "b"}, " ") == ([-1.0, -0.5], 1)  # a target given as the choice text
    assert choice_scores({**row, "target": [0, 1]}, " ") is None  # several gold answers: no one gold index
    assert choice_scores({**row, "target": 7}, " ") is None
    assert choice_scores({**row, "acc": 0.0}, " ") is None  # not what lm-eval scored: left out
