"""lm-eval tasks through evalsuite's engine agree with lm-eval's own `hf` backend."""

from __future__ import annotations

import logging

import pytest

lm_eval = pytest.importorskip("lm_eval")

from evalsuite.lmeval.bridge import EvalsuiteLM  # noqa: E402
from evalsuite.lmeval.tasks import LMEvalTasks  # noqa: E402
from evalsuite.models.hf import HFCausalLM  # noqa: E402

logging.getLogger("lm_eval").setLevel(logging.ERROR)


def _evaluate(model, folder, task, **kwargs):
    manager = LMEvalTasks([str(folder)]).manager
    return lm_eval.simple_evaluate(model=model, tasks=[task], task_manager=manager, log_samples=True,
                                   random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0,
                                   **kwargs)


@pytest.fixture(scope="module")
def both(tiny_lm, lmeval_tasks):
    def run(task, **ours):
        theirs = _evaluate("hf", lmeval_tasks, task, model_args=f"pretrained={tiny_lm},dtype=float32",
                           device="cpu", batch_size=3)
        mine = _evaluate(EvalsuiteLM(HFCausalLM(str(tiny_lm), progress=False, **ours)), lmeval_tasks, task)
        return theirs, mine
    return run


def _per_sample(out, task):
    return {s["doc_id"]: [r[0] if isinstance(r, (list, tuple)) else r for r in s["filtered_resps"]]
            for s in out["samples"][task]}


@pytest.mark.parametrize("budget", [5, 4096])
def test_multiple_choice_matches_lm_eval_hf_backend(both, budget):
    theirs, mine = both("toy_mc", token_budget=budget)
    a, b = _per_sample(theirs, "toy_mc"), _per_sample(mine, "toy_mc")
    assert a.keys() == b.keys() and len(a) == 12
    for doc_id in a:
        assert b[doc_id] == pytest.approx(a[doc_id], abs=1e-4)
    for metric in ("acc,none", "acc_norm,none"):
        assert mine["results"]["toy_mc"][metric] == theirs["results"]["toy_mc"][metric]


def test_rolling_loglikelihood_matches_lm_eval_hf_backend(both):
    theirs, mine = both("toy_ppl")
    a, b = _per_sample(theirs, "toy_ppl"), _per_sample(mine, "toy_ppl")
    for doc_id in a:
        assert b[doc_id] == pytest.approx(a[doc_id], abs=1e-4)
    assert mine["results"]["toy_ppl"]["word_perplexity,none"] == pytest.approx(
        theirs["results"]["toy_ppl"]["word_perplexity,none"], rel=1e-5)


def test_generation_matches_lm_eval_hf_backend(both):
    theirs, mine = both("toy_gen")
    assert _per_sample(mine, "toy_gen") == _per_sample(theirs, "toy_gen")
