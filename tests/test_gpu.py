"""CUDA path: the same answers as the CPU reference (skipped without a GPU)."""

from __future__ import annotations

import pytest

from evalsuite.models.hf import HFCausalLM
from evalsuite.requests import Loglikelihood

REQS = [Loglikelihood(c, k) for c in ("the cat sat on the mat", "alice lives in", "dave reads old maps in the")
        for k in (" paris", " near the river with carol", " a")]


@pytest.mark.gpu
def test_cuda_fp32_matches_cpu_and_bf16_is_close(tiny_lm):
    cpu = [r.logprob for r in HFCausalLM(str(tiny_lm), device="cpu", progress=False).loglikelihood(REQS)]
    gpu = HFCausalLM(str(tiny_lm), device="cuda", dtype="float32", progress=False)
    assert [r.logprob for r in gpu.loglikelihood(REQS)] == pytest.approx(cpu, abs=1e-4)
    bf16 = HFCausalLM(str(tiny_lm), device="cuda", progress=False)
    assert bf16.dtype == "bfloat16"  # the default on CUDA
    assert [r.logprob for r in bf16.loglikelihood(REQS)] == pytest.approx(cpu, rel=0.05, abs=0.2)


@pytest.mark.gpu
def test_a_real_cuda_out_of_memory_is_recognised():
    import torch

    from evalsuite.engine.batching import is_out_of_memory

    with pytest.raises(Exception) as exc:
        torch.empty(1 << 50, device="cuda")  # petabytes: no device has them
    assert is_out_of_memory(exc.value)
    torch.cuda.empty_cache()
