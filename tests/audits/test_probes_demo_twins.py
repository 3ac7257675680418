"""Ground truth on the project's own LM: a planted occupation-pronoun skew is found; the unskewed twin is clean."""

from __future__ import annotations

import pytest

from probe_helpers import run_task
from evalsuite.audits.pronoun_probe import demo_world_pronoun_task


@pytest.fixture(scope="module")
def probe_records(demo_twins, tmp_path_factory):
    from evalsuite.models.hf import HFCausalLM

    out = {}
    for skew, folder in demo_twins.items():
        model = HFCausalLM(str(folder), progress=False, name=f"demo-skew-{skew}")
        out[skew], _ = run_task(model, demo_world_pronoun_task(), tmp_path_factory.mktemp(f"probe_{skew}"))
    return out


def test_planted_skew_is_found(probe_records):
    metrics = probe_records[1.0]["metrics"]
    assert metrics["stereotype_rate"]["ci"][0] > 0.5  # CI excludes the ideal 0.5
    assert metrics["stereotype_rate"]["value"] > 0.9
    assert metrics["aligned_logprob_gap"]["ci"][0] > 1.0  # nats in favour of the planted pronoun


def test_unskewed_twin_is_near_the_ideal(probe_records):
    skewed, flat = probe_records[1.0]["metrics"], probe_records[0.0]["metrics"]
    lo, hi = flat["stereotype_rate"]["ci"]
    assert lo <= 0.5 <= hi
    # The twin's pronoun preference does not follow the stereotype lists: a tiny gap next to the planted one.
    assert abs(flat["aligned_logprob_gap"]["value"]) < 0.05 * skewed["aligned_logprob_gap"]["value"]
