"""The batched engine against a slow, obvious reference: one request, one full forward."""

from __future__ import annotations

import random

import pytest
import torch

from evalsuite.engine.batching import token_budget_batches
from evalsuite.engine.rolling import rolling_windows
from evalsuite.errors import UserError
from evalsuite.models.hf import HFCausalLM
from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodRolling

CONTEXTS = ["the cat sat on the mat", "alice lives in", "Q: where does bob work?\nA:", "dave reads old maps in the",
            "carol plays the violin every evening while the cat"]
CHOICES = [" paris", " the library", " near the river with carol", " a", " baker"]


def requests():
    reqs = [Loglikelihood(c, k) for c in CONTEXTS for k in CHOICES]
    reqs += [Loglikelihood("", " the cat"), Loglikelihood("alice lives in ", "paris")]  # empty ctx, trailing space
    return reqs


@torch.no_grad()
def reference_loglikelihood(lm: HFCausalLM, req: Loglikelihood) -> tuple[float, bool]:
    ctx, cont = lm.encode_pair(req.context, req.continuation)
    ids = torch.tensor([(ctx + cont)[-(lm.max_length + 1):][:-1]])
    logprobs = lm.model(ids).logits[0].log_softmax(-1)[-len(cont):]
    targets = torch.tensor(cont)
    return (logprobs.gather(1, targets[:, None]).sum().item(), bool((logprobs.argmax(-1) == targets).all()))


@pytest.fixture(scope="module")
def lm(tiny_lm):
    return HFCausalLM(str(tiny_lm), progress=False)


def test_shared_context_scores_equal_one_request_at_a_time(lm):
    got = lm.loglikelihood(requests())
    for req, result in zip(requests(), got):
        ref_lp, ref_greedy = reference_loglikelihood(lm, req)
        assert result.logprob == pytest.approx(ref_lp, abs=1e-5)
        assert result.is_greedy == ref_greedy


@pytest.mark.parametrize("budget", [1, 7, 64, 300, 100_000])
def test_results_do_not_depend_on_batching(tiny_lm, lm, budget):
    baseline = [r.logprob for r in lm.loglikelihood(requests())]
    other = HFCausalLM(str(tiny_lm), progress=False, token_budget=budget)
    shuffled = requests()
    random.Random(budget).shuffle(shuffled)
    by_req = dict(zip(shuffled, other.loglikelihood(shuffled)))
    for req, expected in zip(requests(), baseline):
        assert by_req[req].logprob == pytest.approx(expected, abs=1e-5)


def test_shared_context_is_computed_once_and_duplicates_once(tiny_lm):
    lm = HFCausalLM(str(tiny_lm), progress=False, token_budget=100_000)
    words = [" a", " the", " cat", " mat", " in", " on"]
    single_token = [Loglikelihood("the cat sat on the", k) for k in words
                    if len(lm.encode_pair("the cat sat on the", k)[1]) == 1]
    assert len(single_token) >= 2
    lm.loglikelihood(single_token * 3)
    assert lm.scorer().forward_calls == 1  # one context pass scores all one-token choices, duplicates too
    lm.loglikelihood([Loglikelihood("the cat sat on the", " mat near the river")] * 4)
    assert lm.scorer().forward_calls == 3  # one context pass + one continuation pass


def test_long_contexts_are_left_truncated_like_lm_eval(short_lm):
    lm = HFCausalLM(str(short_lm), progress=False, token_budget=32)
    long_ctx = " ".join(["the cat sat on the mat"] * 6)
    reqs = [Loglikelihood(long_ctx, " near the river"), Loglikelihood(long_ctx, " a")]
    for req, result in zip(reqs, lm.loglikelihood(reqs)):
        assert result.logprob == pytest.approx(reference_loglikelihood(lm, req)[0], abs=1e-5)


def test_rolling_windows_predict_every_token_once_with_full_context():
    tokens = list(range(100, 110))
    windows = rolling_windows(tokens, prefix_token=0, max_length=4)
    predicted = [t for _, cont in windows for t in cont]
    assert predicted == tokens
    assert windows[0] == ((0,), (100, 101, 102, 103))
    for ctx, cont in windows:
        assert len(ctx) + len(cont) - 1 <= 4  # model input fits
        assert len(ctx) + len(cont) - 1 == 4 or cont[-1] == tokens[-1] or len(tokens) < 4
    assert windows[-1] == ((105, 106, 107), (108, 109))


@torch.no_grad()
def test_rolling_loglikelihood_equals_full_document_score_when_it_fits(lm):
    text = "carol plays the violin every evening"
    ids = lm.tok_encode(text)
    full = torch.tensor([[lm.prefix_token_id] + ids])
    logprobs = lm.model(full).logits[0, :-1].log_softmax(-1)
    expected = logprobs.gather(1, torch.tensor(ids)[:, None]).sum().item()
    result = lm.loglikelihood_rolling([LoglikelihoodRolling(text)])[0]
    assert result.logprob == pytest.approx(expected, abs=1e-5)
    assert result.n_tokens == len(ids)


def test_rolling_on_long_document_sums_window_scores(short_lm):
    lm = HFCausalLM(str(short_lm), progress=False)
    text = " ".join(["dave reads old maps in the library"] * 5)
    ids = lm.tok_encode(text)
    windows = rolling_windows(ids, lm.prefix_token_id, lm.max_length)
    assert len(windows) > 2
    expected = 0.0
    with torch.no_grad():
        for ctx, cont in windows:
            out = lm.model(torch.tensor([list(ctx + cont)[:-1]])).logits[0].log_softmax(-1)[-len(cont):]
            expected += out.gather(1, torch.tensor(cont)[:, None]).sum().item()
    assert lm.loglikelihood_rolling([LoglikelihoodRolling(text)])[0].logprob == pytest.approx(expected, abs=1e-4)


def test_generation_is_greedy_cut_at_stop_and_batch_invariant(tiny_lm):
    prompts = [Generate(c, until=("river",), max_new_tokens=6) for c in CONTEXTS]
    small = HFCausalLM(str(tiny_lm), progress=False, token_budget=1).generate(prompts)
    large = HFCausalLM(str(tiny_lm), progress=False, token_budget=100_000).generate(prompts)
    assert small == large
    lm = HFCausalLM(str(tiny_lm), progress=False)
    for req, text in zip(prompts, small):  # oracle: manual greedy decoding of one prompt
        ids = lm.tok_encode(req.prompt)
        new = []
        with torch.no_grad():
            for _ in range(req.max_new_tokens):
                nxt = int(lm.model(torch.tensor([ids + new])).logits[0, -1].argmax())
                if nxt == lm.tokenizer.eos_token_id:
                    break
                new.append(nxt)
        assert text == lm.tokenizer.decode(new).split("river")[0]


def test_token_budget_batches_are_length_sorted_and_bounded():
    items = [3, 9, 1, 7, 7, 2, 12]
    batches = token_budget_batches(items, lambda n: n, token_budget=14)
    assert [x for b in batches for x in b] == sorted(items, reverse=True)
    for batch in batches:
        assert len(batch) == 1 or max(batch) * len(batch) <= 14


def _oom_when(model, max_cells):
    """Make the model raise an out-of-memory error on batches larger than max_cells tokens."""
    original = model.forward

    def forward(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        past = kwargs.get("past_key_values")
        width = ids.shape[1] + (past.get_seq_length() if past is not None else 0)
        if ids.shape[0] * width > max_cells:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(*args, **kwargs)

    model.forward = forward


def test_out_of_memory_batches_are_retried_smaller(tiny_lm, lm):
    expected = [r.logprob for r in lm.loglikelihood(requests())]
    flaky = HFCausalLM(str(tiny_lm), progress=False, token_budget=100_000)
    _oom_when(flaky.model, max_cells=40)
    got = [r.logprob for r in flaky.loglikelihood(requests())]
    assert got == pytest.approx(expected, abs=1e-5)


def test_out_of_memory_on_a_single_sequence_is_a_clear_error(tiny_lm):
    flaky = HFCausalLM(str(tiny_lm), progress=False)
    _oom_when(flaky.model, max_cells=2)
    with pytest.raises(UserError, match="out of memory scoring a single sequence"):
        flaky.loglikelihood(requests()[:3])


@torch.no_grad()
def test_continuations_differing_only_in_their_last_token_share_a_row(lm):
    ctx = tuple(lm.tok_encode("dave reads old maps in the library"))
    conts = [(5, 9, 11), (5, 9, 12), (5, 9, 11, 3), (5, 7), (5, 8), (6,)]
    scorer = lm.scorer()
    calls = scorer.forward_calls
    got = scorer.score([(ctx, c) for c in conts], lambda batch: None)
    assert scorer.forward_calls - calls == 1 + 3  # context pass + rows (5,9) (5,9,11) (5)
    for cont in conts:
        logprobs = lm.model(torch.tensor([list(ctx + cont)[:-1]])).logits[0].log_softmax(-1)[-len(cont):]
        expected = logprobs.gather(1, torch.tensor(cont)[:, None]).sum().item()
        assert got[(ctx, cont)][0] == pytest.approx(expected, abs=1e-5)
        assert got[(ctx, cont)][1] == bool((logprobs.argmax(-1) == torch.tensor(cont)).all())


def test_the_engine_uses_the_cache_api_without_deprecation_warnings(tiny_lm):
    """No FutureWarning (transformers' `past_key_values` rename) and no transformers deprecation log."""
    import logging
    import warnings

    from evalsuite.engine.kvcache import cache_argument

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            lm = HFCausalLM(str(tiny_lm), progress=False)
            lm.loglikelihood(requests())
            lm.generate([Generate("the cat sat", until=("\n",), max_new_tokens=4)])
    finally:
        hf_logger.removeHandler(handler)
    assert not [r for r in records if "deprecated" in r.getMessage()]
    assert cache_argument(lm.model) in ("cache", "past_key_values")


@pytest.mark.parametrize("exc, oom", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (MemoryError(), True),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), True),
    (RuntimeError("MPS backend out of memory (MPS allocated: 1.00 GB)"), True),
    (RuntimeError("The size of tensor a (3) must match the size of tensor b (4)"), False),
    (ValueError("out of memory"), False),
])
def test_one_out_of_memory_detector(exc, oom):
    from evalsuite.engine.batching import is_out_of_memory

    assert is_out_of_memory(exc) is oom


def test_one_default_token_budget_per_device_kind():
    from evalsuite.engine.batching import DEFAULT_CPU_BUDGET, DEFAULT_GPU_BUDGET, default_token_budget

    assert default_token_budget(torch.device("cpu")) == default_token_budget("cpu") == DEFAULT_CPU_BUDGET
    assert default_token_budget(torch.device("cuda", 1)) == default_token_budget("cuda:1") == DEFAULT_GPU_BUDGET
