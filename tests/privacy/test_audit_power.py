"""Audits with power. On planted ground truth: the one-run bound (Steinke, Nasr, Jagielski 2023) holds for a
mechanism that is exactly eps-DP (randomized response), reaches its perfect bound on a perfect leak, and certifies
more than the Clopper-Pearson split at the same number of scored examples. On trained models: the same tiny LM
fine-tuned without DP gets a non-vacuous bound, at epsilon 1 never a bound above the claim (while the audit had the
power to refute it), and a too-small audit of the leaky model is reported as vacuous."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evalsuite.privacy.empirical_eps import perfect_split_bound
from evalsuite.privacy.one_run import epsilon_lower_bound, one_run_bound, p_value, perfect_bound


def test_p_value_is_the_binomial_tail_without_delta_and_grows_with_delta():
    from scipy.stats import binom

    q = math.exp(1.0) / (1 + math.exp(1.0))
    assert p_value(100, 40, 35, 1.0, 0.0) == pytest.approx(float(binom.sf(34, 40, q)), rel=1e-12)
    assert p_value(100, 40, 35, 1.0, 1e-3) > p_value(100, 40, 35, 1.0, 0.0)
    bound = epsilon_lower_bound(100, 40, 35, 0.0, 0.05)
    assert p_value(100, 40, 35, bound, 0.0) < 0.05 <= p_value(100, 40, 35, bound + 1e-6, 0.0)


def _randomized_response(coins: np.ndarray, eps: float, rng) -> np.ndarray:
    """An exactly eps-DP release of each coin: the truth with probability e^eps / (1 + e^eps)."""
    keep = rng.random(len(coins)) < math.exp(eps) / (1 + math.exp(eps))
    return np.where(keep, coins, ~coins).astype(float) + rng.random(len(coins)) * 1e-3


def test_one_run_bound_holds_for_an_exactly_dp_mechanism():
    rng = np.random.default_rng(0)
    eps, trials, above = 1.0, 30, 0
    for t in range(trials):
        coins = rng.random(100) < 0.5
        bound = one_run_bound(_randomized_response(coins, eps, rng), coins, 0.0, seed=t)["epsilon_lower_bound"]
        above += bound > eps
    assert above <= 0.05 * trials + 3  # 95% confidence: at most a few of 30 (expected 1.5)


def test_one_run_bound_has_power_on_a_perfect_leak_and_beats_the_split_at_the_same_size():
    rng = np.random.default_rng(1)
    coins = rng.random(120) < 0.5
    result = one_run_bound(coins.astype(float), coins, 1e-5)
    assert result["epsilon_lower_bound"] == pytest.approx(result["perfect_bound"])
    assert result["perfect_bound"] <= perfect_bound(120, 1e-5) + 1e-9  # balanced coins are the best case
    # 120 scored examples: one-run (every example counts) vs members/non-members split in halves.
    assert perfect_bound(120, 1e-5) > perfect_split_bound(60, 60, 1e-5) + 0.8


def test_non_private_model_gets_a_non_vacuous_bound(nodp_run):
    _, record, messages = nodp_run
    m, power = record["metrics"], record["details"]["audit_power"]
    assert m["audit_vacuous"]["value"] == 0.0 and power["vacuous"] is False
    assert m["empirical_epsilon_lower_bound"]["value"] > 1.0
    assert m["empirical_epsilon_lower_bound"]["value"] <= m["empirical_epsilon_max_certifiable"]["value"] + 1e-9
    assert record["details"]["empirical_epsilon"]["strongest_test"].startswith("one-run/")
    assert any("epsilon >=" in line for line in messages)


def test_private_model_never_exceeds_its_claim_and_the_audit_could_have_refuted_it(dp_run):
    result, record, _ = dp_run
    m, power = record["metrics"], record["details"]["audit_power"]
    claimed = result.privacy["epsilon"]
    assert m["empirical_epsilon_lower_bound"]["value"] <= claimed
    assert m["dp_bound_violated"]["value"] == 0.0 and record["details"]["violation"] is None
    assert power["can_refute_claim"] is True and power["max_certifiable"] > claimed
    one_run = record["details"]["empirical_epsilon"]["tests"]["one-run/loss"]
    assert one_run["m"] == record["details"]["audit_canaries"]["m"] > 0


def test_a_too_small_audit_of_a_leaky_model_is_reported_vacuous(nodp_run, tmp_path):
    from evalsuite.config import RunConfig
    from evalsuite.runner import run

    result, _, _ = nodp_run
    training = json.loads((result.checkpoint / "training.json").read_text())
    texts = [json.loads(line)["text"] for line in
             (result.checkpoint / training["data"]["source"]["path"]).read_text().splitlines()]
    for name, key in (("members", "member_indices"), ("nonmembers", "nonmember_indices")):
        rows = [{"text": texts[i]} for i in training["data"][key][:4]]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    messages = []
    summary = run(RunConfig(model=str(result.checkpoint), tasks=["privacy_audit"], output_dir=str(tmp_path / "r"),
                            progress=False, task_args={"members_file": str(tmp_path / "members.jsonl"),
                                                       "nonmembers_file": str(tmp_path / "nonmembers.jsonl"),
                                                       "reference_model": "none", "n_canary_candidates": 5}),
                  echo=messages.append)
    record = json.loads((tmp_path / "r" / next(iter(summary["records"].values()))).read_text())
    m, power = record["metrics"], record["details"]["audit_power"]
    assert m["mia_auc"]["value"] > 0.8  # the model does leak these members...
    assert m["empirical_epsilon_lower_bound"]["value"] == 0.0  # ...but 4 + 4 examples cannot show it
    assert m["audit_vacuous"]["value"] == 1.0 and power["vacuous"] is True
    assert m["empirical_epsilon_max_certifiable"]["value"] == pytest.approx(perfect_split_bound(4, 4, 1e-5, 0.95))
    assert "VACUOUS" in power["verdict"] and any("VACUOUS" in line for line in messages)
