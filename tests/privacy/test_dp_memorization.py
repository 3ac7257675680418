"""The proof on planted ground truth: without DP the model memorizes its random-word members and
canaries (clear exposure, MIA AUC above chance); the same run at epsilon 1 does not; a checkpoint
whose claimed epsilon is contradicted by the attack is flagged loudly."""

from __future__ import annotations

import json
import sqlite3

import pytest

from evalsuite.privacy.canaries import CHANCE_EXPOSURE_BITS


def test_non_private_run_leaks_membership_and_canaries(nodp_run):
    _, record, _ = nodp_run
    m = record["metrics"]
    assert record["category"] == "privacy" and record["details"]["privacy"]["dp"] is False
    assert "epsilon" not in m and "dp_bound_violated" not in m  # no claim, nothing to violate
    assert m["mia_auc"]["ci"][0] > 0.8 and m["mia_ref_auc"]["ci"][0] > 0.8
    assert m["canary_exposure"]["ci"][0] > 4.0  # chance is 1.44 bits; the estimate saturates at 7.65
    assert all(r["exposure_bits"] <= r["max_measurable_bits"] + 1e-9 for r in record["details"]["canaries"]["rows"])
    assert m["empirical_epsilon_lower_bound"]["value"] > 0.3


def test_private_run_at_epsilon_one_does_not(dp_run, nodp_run):
    result, record, _ = dp_run
    m = record["metrics"]
    lo, hi = m["mia_auc"]["ci"]
    assert lo <= 0.5 <= hi
    assert m["canary_exposure"]["ci"][0] <= CHANCE_EXPOSURE_BITS
    assert m["canary_exposure"]["value"] < nodp_run[1]["metrics"]["canary_exposure"]["value"] - 2
    assert m["dp_bound_violated"]["value"] == 0.0
    assert m["empirical_epsilon_lower_bound"]["value"] <= result.privacy["epsilon"]
    assert record["details"]["violation"] is None


def test_checkpoint_runs_through_evalsuite_run_and_lands_in_the_store(dp_run, tmp_path):
    import evalsuite
    from evalsuite.config import RunConfig

    result, _, _ = dp_run
    summary = evalsuite.runner.run(RunConfig(model=str(result.checkpoint), tasks=["privacy_audit"],
                                             output_dir=str(tmp_path), progress=False,
                                             task_args={"n_canary_candidates": 50}))
    record = json.loads((tmp_path / next(iter(summary["records"].values()))).read_text())
    assert record["artifacts"]["roc_plot"] == "roc.png"
    assert (tmp_path / "runs" / summary["run_id"] / "evalsuite_privacy_audit" / "roc.png").is_file()
    rows = sqlite3.connect(tmp_path / "index.sqlite").execute("select * from metrics").fetchall()
    assert any("epsilon" in map(str, row) for row in rows)


def test_finetune_record_carries_the_privacy_record(dp_run):
    result, record, _ = dp_run  # the fine-tune record carries the audit too
    assert record["category"] == "privacy"
    assert record["metrics"]["epsilon"]["value"] == pytest.approx(result.privacy["epsilon"])
    assert record["details"]["privacy"]["noise_multiplier"] == result.privacy["noise_multiplier"]
    saved = json.loads((result.checkpoint / "privacy.json").read_text())
    assert saved["epsilon"] == result.privacy["epsilon"] and saved["accountant"] == "prv"


def test_claimed_epsilon_contradicted_by_the_attack_is_a_loud_violation(nodp_run, copy_checkpoint, tmp_path):
    from evalsuite.config import RunConfig
    from evalsuite.runner import run

    result, _, _ = nodp_run
    forged = copy_checkpoint(result.checkpoint)
    privacy = json.loads((forged / "privacy.json").read_text())
    privacy.update(dp=True, epsilon=0.05, delta=1e-3, accountant="prv")  # a false claim on a leaky model
    (forged / "privacy.json").write_text(json.dumps(privacy))
    messages = []
    summary = run(RunConfig(model=str(forged), tasks=["privacy_audit"], output_dir=str(tmp_path / "r"),
                            progress=False, task_args={"n_canary_candidates": 20, "reference_model": "none"}),
                  echo=messages.append)
    record = json.loads((tmp_path / "r" / next(iter(summary["records"].values()))).read_text())
    assert record["metrics"]["dp_bound_violated"]["value"] == 1.0
    assert record["metrics"]["empirical_epsilon_lower_bound"]["value"] > 0.05
    assert "PRIVACY BOUND VIOLATED" in record["details"]["violation"]
    assert any("PRIVACY BOUND VIOLATED" in m for m in messages)
