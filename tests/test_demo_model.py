"""The main job: the shipped demo model on the built-in tasks scores clearly above chance."""

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
    stdout, records = demo_run
    assert set(records) == {"evalsuite/demo_facts_mc", "evalsuite/demo_story_mc", "evalsuite/demo_heldout_ppl",
                            "evalsuite/demo_facts_gen"}
    for task in records:
        assert task in stdout
    assert "95% CI" in stdout


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
