"""vLLM in-process against the HF engine on the same weights (needs a GPU and the [vllm] extra)."""

from __future__ import annotations

import pytest

from served_helpers import build_tiny_gpt2

from evalsuite.models.factory import load_model
from evalsuite.models.hf import HFCausalLM
from evalsuite.requests import Generate, Loglikelihood

REQUESTS = [Loglikelihood(c, k) for c in ("the cat sat on the", "alice lives in paris and bob works as a", "dave ")
            for k in (" mat", " baker near the river", "reads old maps")]


@pytest.mark.gpu
def test_vllm_backend_matches_the_hf_engine(tmp_path):
    pytest.importorskip("vllm", reason="the [vllm] extra is not installed")
    folder = build_tiny_gpt2(tmp_path / "tiny")
    oracle = HFCausalLM(str(folder), device="cuda", dtype="float32", progress=False)
    vllm_lm = load_model(f"vllm:{folder}", dtype="float32", gpu_memory_utilization=0.2)
    assert vllm_lm.fingerprint()["adapter"] == "vllm"
    got, want = vllm_lm.loglikelihood(REQUESTS), oracle.loglikelihood(REQUESTS)
    assert [g.n_tokens for g in got] == [w.n_tokens for w in want]
    assert [g.logprob for g in got] == pytest.approx([w.logprob for w in want], abs=1e-3)
    assert [g.is_greedy for g in got] == [w.is_greedy for w in want]
    gens = [Generate("alice lives in", ("\n",), 12), Generate("the cat sat on the", (" river",), 16)]
    assert vllm_lm.generate(gens) == oracle.generate(gens)
