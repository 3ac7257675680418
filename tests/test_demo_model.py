"""The main job: the shipped demo model on the built-in suite: benchmarks clearly above chance, and a
record of every category (fairness probes, an explanation, DP fine-tuning with its audit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_run")
    proc = subprocess.run([sys.executable, "-m", "evalsuite.cli", "run", "--model", "demo", "--output-dir", out,
                           "--quiet"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    records = {json.loads(p.read_text())["task"]: json.loads(p.read_text()) for p in out.rglob("record.json")}
    return proc.stdout, records


def test_main_job_prints_a_results_table(demo_run):
    from evalsuite.commands import DEFAULT_SUITE

    stdout, records = demo_run
    assert set(records) == {f"evalsuite/{name}" for name in DEFAULT_SUITE}
    for task in records:
        assert task in stdout
    assert "95% CI" in stdout
    categories = {r["category"] for r in records.values()}
    assert categories == {"capability", "fairness", "explainability", "privacy"}


def test_main_job_privacy_record_is_accounted_and_within_its_bound(demo_run):
    metrics = demo_run[1]["evalsuite/dp_finetune_audit"]["metrics"]
    assert 0 < metrics["epsilon"]["value"] <= 4.0 + 1e-6 and metrics["epsilon"]["ci_method"] == "accountant:prv"
    assert metrics["dp_bound_violated"]["value"] == 0.0
    assert metrics["empirical_epsilon_lower_bound"]["value"] <= metrics["epsilon"]["value"]


@pytest.mark.parametrize("task", ["evalsuite/demo_facts_mc", "evalsuite/demo_story_mc"])
def test_multiple_choice_is_clearly_above_chance(demo_run, task):
    acc = demo_run[1][task]["metrics"]["acc"]
    chance = 0.25  # four choices per question
    assert acc["ci"][0] > chance, acc


def test_generation_answers_some_questions_exactly(demo_run):
    em = demo_run[1]["evalsuite/demo_facts_gen"]["metrics"]["exact_match"]
    assert em["ci"][0] > 0.0, em


def test_heldout_perplexity_is_far_below_a_uniform_guess(demo_run):
    from transformers import AutoConfig

    from evalsuite.demo import WEIGHTS_DIR

    vocab = AutoConfig.from_pretrained(WEIGHTS_DIR).vocab_size
    ppl = demo_run[1]["evalsuite/demo_heldout_ppl"]["metrics"]["perplexity"]
    assert 1.0 < ppl["value"] < vocab / 20, ppl  # a uniform guess has perplexity = vocab size
    assert Path(WEIGHTS_DIR).is_dir()
