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


@pytest.mark.gpu
def test_nvml_energy_is_measured_and_grows_with_work():
    """Zeus reads the GPU's energy counter: a longer burst of matmuls costs more joules, labelled measured."""
    pytest.importorskip("zeus", reason="zeus (extra [energy]) reads NVML")
    import torch

    from evalsuite.energy import energy_block, meter_for

    meter = meter_for("cuda:0")
    assert meter.method == "measured-nvml" and meter.idle_watts is not None
    a = torch.randn(4096, 4096, device="cuda")
    joules = []
    for n in (20, 200):
        meter.begin()
        for _ in range(n):
            a = (a @ a).clamp_(-1, 1)
        reading = meter.end()  # synchronises before reading
        joules.append(reading.joules_gross)
    assert 0 < joules[0] < joules[1]
    block = energy_block(reading, n_samples=200, tokens=None)
    assert block["method"] == "measured-nvml" and block["devices"][0].startswith("cuda:0")
