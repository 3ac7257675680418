"""Epsilon accounting against DESIGN.md's oracle values and Opacus' accountants stepped one step at a time."""

from __future__ import annotations

import pytest

from evalsuite.privacy.accounting import epsilon_for, noise_for_epsilon, steps_for

# DESIGN.md: sigma 1.1, batch 256, N 60000, 60 epochs, delta 1e-5 -> RDP 2.597, PRV 2.392.
SIGMA, Q, DELTA = 1.1, 256 / 60000, 1e-5
STEPS = steps_for(60, Q)


@pytest.mark.parametrize("accountant, oracle", [("rdp", 2.597), ("prv", 2.392)])
def test_epsilon_matches_the_design_oracle(accountant, oracle):
    assert STEPS == 14062
    assert epsilon_for(SIGMA, Q, STEPS, DELTA, accountant) == pytest.approx(oracle, abs=1e-3)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_epsilon_matches_opacus_accountant_stepped_directly(accountant):
    from opacus.accountants import PRVAccountant, RDPAccountant

    acc = {"rdp": RDPAccountant, "prv": PRVAccountant}[accountant]()
    for _ in range(STEPS):  # what the DP optimizer does, one step per logical batch
        acc.step(noise_multiplier=SIGMA, sample_rate=Q)
    assert epsilon_for(SIGMA, Q, STEPS, DELTA, accountant) == pytest.approx(acc.get_epsilon(delta=DELTA), rel=1e-9)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_noise_for_target_epsilon_round_trips(accountant):
    sigma = noise_for_epsilon(2.0, 1e-5, Q, STEPS, accountant)
    eps = epsilon_for(sigma, Q, STEPS, 1e-5, accountant)
    assert 2.0 - 0.011 <= eps <= 2.0
    assert epsilon_for(sigma * 0.97, Q, STEPS, 1e-5, accountant) > 2.0  # a little less noise overspends


def test_accountants_differ_and_the_record_must_name_one():
    assert epsilon_for(SIGMA, Q, STEPS, DELTA, "prv") < epsilon_for(SIGMA, Q, STEPS, DELTA, "rdp") - 0.1


def test_checkpoint_epsilon_is_what_the_accountant_gives_for_its_recorded_schedule(dp_run):
    result, record, _ = dp_run
    p = result.privacy
    assert p["accountant"] == "prv" and p["grad_sample_mode"] in ("hooks", "ghost", "functorch")
    assert p["steps"] == steps_for(40, p["sample_rate"])
    assert p["epsilon"] == pytest.approx(epsilon_for(p["noise_multiplier"], p["sample_rate"], p["steps"],
                                                     p["delta"], "prv"), rel=1e-9)
    assert 1.0 - 0.02 <= p["epsilon"] <= 1.0
    saved = record["details"]["privacy"]
    for key in ("accountant", "noise_multiplier", "sample_rate", "steps", "max_grad_norm", "epsilon", "delta",
                "target_epsilon", "grad_sample_mode", "seed"):
        assert saved[key] == p[key]
    assert record["metrics"]["epsilon"]["ci_method"] == "accountant:prv"
    assert record["metrics"]["epsilon"]["ci"] is None
