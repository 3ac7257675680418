"""A real llama.cpp server against the HF engine on the same weights: the oracle.

The served model's GGUF adds a BOS token to every prompt (llama-cpp-python only
aligns prompt logprobs correctly then; see test_self_check for the one that adds
none), so the oracle scores the same text after the BOS token: HF on
("<|endoftext|>" + context, continuation) is the server on (context, continuation).
"""

from __future__ import annotations

import logging

import pytest

from served_helpers import BOS, BOS_MODEL, lmeval_pair_folder, served_args

from evalsuite.models.factory import load_model
from evalsuite.models.hf import HFCausalLM
from evalsuite.requests import Generate, Loglikelihood

CONTEXTS = ["the cat sat on the", "alice lives in paris and bob works as a", "dave reads old maps in the library ",
            "Q: where does carol live?\nA:"]
CONTINUATIONS = [" mat", " baker near the river", "where is it", " paris", " the violin every evening"]


@pytest.fixture(scope="module")
def endpoint(llama_server, served_weights, api_key_env):
    return load_model(f"openai-completions:{llama_server.url}", **served_args(served_weights[0]))


@pytest.fixture(scope="module")
def oracle(served_weights):
    return HFCausalLM(str(served_weights[0]), device="cpu", dtype="float32", progress=False)


def test_the_server_passes_the_self_check(endpoint):
    assert endpoint.self_check["passed"][:2] == ["prompt logprobs", "token count"]
    assert len(endpoint.self_check["passed"]) == 5
    assert endpoint.server_adds_bos is True
    fp = endpoint.fingerprint()
    assert fp["model"] == BOS_MODEL and fp["probe_sha256"] and fp["bos"] is True
    assert "url" not in fp  # the probe hash tells weights apart; a moved server keeps its cache


def test_loglikelihoods_match_the_hf_engine(endpoint, oracle):
    requests = [Loglikelihood(c, k) for c in CONTEXTS for k in CONTINUATIONS]
    served = endpoint.loglikelihood(requests)
    reference = oracle.loglikelihood([Loglikelihood(BOS + r.context, r.continuation) for r in requests])
    for req, got, want in zip(requests, served, reference):
        assert got.n_tokens == want.n_tokens, req
        assert got.logprob == pytest.approx(want.logprob, abs=1e-3), req
        assert got.is_greedy == want.is_greedy, req
    assert len({round(r.logprob, 3) for r in served}) > len(CONTINUATIONS)  # real, varied numbers


def test_greedy_generations_are_identical(endpoint, oracle):
    requests = [Generate(c, ("\n", " river"), 12) for c in CONTEXTS] + [Generate("alice lives in", (), 20)]
    served = endpoint.generate(requests)
    reference = oracle.generate([Generate(BOS + r.prompt, r.until, r.max_new_tokens) for r in requests])
    assert served == reference
    assert any(len(t) > 5 for t in served)  # something was generated, not just empty strings


def test_an_lm_eval_yaml_task_through_the_endpoint_matches_hf(endpoint, oracle, tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from evalsuite.lmeval.bridge import EvalsuiteLM
    from evalsuite.lmeval.tasks import LMEvalTasks

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    folder = lmeval_pair_folder(tmp_path)
    manager = LMEvalTasks([str(folder)]).manager

    def evaluate(model, task):
        out = lm_eval.simple_evaluate(model=EvalsuiteLM(model), tasks=[task], task_manager=manager, log_samples=True,
                                      random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0)
        samples = {s["doc_id"]: [r[0] if isinstance(r, (list, tuple)) else r for r in s["filtered_resps"]]
                   for s in out["samples"][task]}
        return out["results"][task], samples

    for task, metric in (("served_mc", "acc,none"), ("served_gen", "exact_match,none")):
        served, served_samples = evaluate(endpoint, task)
        hf, hf_samples = evaluate(oracle, task + "_bos")
        assert served_samples.keys() == hf_samples.keys() and len(served_samples) == 8
        for doc_id, values in served_samples.items():
            if task == "served_mc":
                assert values == pytest.approx(hf_samples[doc_id], abs=1e-3)
            else:
                assert values == hf_samples[doc_id]
        assert served[metric] == hf[metric]
