"""Bad configurations: one line, exit 2, nothing written; Opacus' validator reasons are quoted."""

from __future__ import annotations

import pytest

from evalsuite.cli import main
from evalsuite.privacy.config import DPConfig, config_problems, module_problems


def finetune_cli(tmp_path, data, *extra):
    return main(["finetune", "--model", str(data["model"]), "--data", str(data["file"]), "--out",
                 str(tmp_path / "ckpt"), "--output-dir", str(tmp_path / "results"), *map(str, extra)])


@pytest.fixture()
def inputs(tiny_lm, member_data):
    return {"model": tiny_lm, "file": member_data}


# `evalsuite finetune` errors name the flags the user typed (--target-epsilon), not the task options behind them.
@pytest.mark.parametrize("flags, fragment", [
    (["--dp", "--target-epsilon", "0", "--delta", "1e-3"], "--target-epsilon must be > 0"),
    (["--dp", "--target-epsilon", "-1", "--delta", "1e-3"], "--target-epsilon must be > 0"),
    (["--dp", "--target-epsilon", "inf", "--delta", "1e-3"], "--target-epsilon must be a finite number"),
    (["--dp", "--target-epsilon", "nan", "--delta", "1e-3"], "--target-epsilon must be a finite number"),
    (["--dp", "--target-epsilon", "1", "--delta", "0.02"], "delta must be in (0, 1/N)"),  # N = 64 -> 1/N 0.0156
    (["--dp", "--target-epsilon", "1", "--delta", "1"], "delta must be < 1"),
    (["--dp", "--target-epsilon", "1", "--delta", "0"], "delta must be > 0"),
    (["--dp", "--target-epsilon", "1"], "delta is required"),
    (["--dp", "--delta", "1e-3"], "exactly one of --target-epsilon"),
    (["--dp", "--target-epsilon", "1", "--noise-multiplier", "1", "--delta", "1e-3"], "exactly one of"),
    (["--dp", "--noise-multiplier", "0", "--delta", "1e-3"], "--noise-multiplier must be > 0"),
    (["--target-epsilon", "1", "--delta", "1e-3"], "add --dp"),
    (["--dp", "--noise-multiplier", "1", "--delta", "1e-3", "--accountant", "gdpx"], "accountant must be one of"),
    (["--dp", "--noise-multiplier", "1", "--delta", "1e-3", "--grad-sample-mode", "fast"],
     "--grad-sample-mode must be one of"),
    (["--lora", "--train-last-layers", "1"], "choose one of --lora (LoRA adapters) and --train-last-layers"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--batch-size", "65"], "--batch-size must be in [1, N=64] (sample rate batch_size/N in (0, 1])"),
    (["--max-physical-batch-size", "0"], "--max-physical-batch-size must be >= 1"),
    (["--audit-holdout", "1"], "--audit-holdout must be < 1"),
    (["--audit-holdout", "-0.5"], "--audit-holdout must be >= 0"),
    (["--audit"], "needs held-out non-members"),
    (["--audit", "--audit-holdout", "0.5", "--reference-model", "sklearn:/tmp/x.joblib"], "unpickle"),
])
def test_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path, inputs, capsys, flags, fragment):
    assert finetune_cli(tmp_path, inputs, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("evalsuite: error: ") and fragment in err[0], err
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "results").exists()


def test_every_problem_is_reported_at_once():
    problems = config_problems(DPConfig(dp=True, target_epsilon=-1, delta=0.5, max_grad_norm=0, epochs=0), 100)
    assert len(problems) == 4
    problems = config_problems(DPConfig(dp=True, target_epsilon=float("inf"), delta=1.0), 100)
    assert any("target_epsilon must be > 0 and finite" in p for p in problems)
    assert any("delta must be in (0, 1)" in p for p in problems)


def test_several_bad_options_are_one_line_naming_each(tmp_path, inputs, capsys):
    assert finetune_cli(tmp_path, inputs, "--dp", "--target-epsilon", "inf", "--delta", "1", "--epochs", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(f in err[0] for f in ("--target-epsilon", "--delta", "--epochs")), err
    assert "task-args" not in err[0] and "_" not in err[0].split("error: ")[1], err


def test_existing_output_folder_is_refused_before_training(tmp_path, inputs, capsys):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "keep.txt").write_text("x")
    assert finetune_cli(tmp_path, inputs, "--dp", "--noise-multiplier", "1", "--delta", "1e-3") == 2
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("where", ["under-a-file", "read-only"])
def test_unwritable_out_is_refused_before_training(tmp_path, inputs, capsys, where):
    import os

    if where == "under-a-file":
        (tmp_path / "plain.txt").write_text("x")
        out, fragment = tmp_path / "plain.txt" / "ckpt", "is a file"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        if os.access(locked, os.W_OK):
            locked.chmod(0o700)
            pytest.skip("running as a user who can write anywhere (root)")
        out, fragment = locked / "ckpt", "not writable"
    try:
        code = main(["finetune", "--model", str(inputs["model"]), "--data", str(inputs["file"]), "--out", str(out),
                     "--output-dir", str(tmp_path / "results"), "--quiet"])
    finally:
        if where == "read-only":
            out.parent.chmod(0o700)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0] and "--out" in err[0], err
    assert not (tmp_path / "results").exists() and not out.exists()


def test_missing_text_field_is_one_line(tmp_path, inputs, capsys):
    assert finetune_cli(tmp_path, inputs, "--text-field", "body") == 2
    assert "no 'body' field" in capsys.readouterr().err


def test_opacus_validator_reasons_for_layers_it_cannot_handle():
    import torch

    from evalsuite.errors import UserError
    from evalsuite.privacy.config import validate_module

    bad = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.LSTM(4, 4))
    problems = module_problems(bad)
    assert any("BatchNorm" in p for p in problems) and any("LSTM" in p for p in problems)
    with pytest.raises(UserError) as err:
        validate_module(bad)
    assert "\n" not in str(err.value) and "BatchNorm" in str(err.value)
    assert module_problems(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GroupNorm(2, 4))) == []


def test_finetune_refuses_a_model_with_unsupported_layers(tmp_path, tiny_lm, member_data):
    """Through the library path: the validator runs on the adapter's module before any training."""
    import torch

    from evalsuite.errors import UserError
    from evalsuite.models.hf import HFCausalLM
    from evalsuite.privacy import finetune as ft

    adapter = HFCausalLM(str(tiny_lm), progress=False)
    adapter.model.transformer.extra_norm = torch.nn.BatchNorm1d(4)
    cfg = DPConfig(dp=True, noise_multiplier=1.0, delta=1e-3)
    with pytest.raises(UserError, match="BatchNorm"):
        ft.finetune(adapter, {"kind": "file", "path": str(member_data)}, cfg, tmp_path / "ckpt",
                    output_dir=str(tmp_path / "results"))
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "results").exists()


def test_dp_task_options_are_checked_before_the_model_loads(tmp_path, capsys):
    from evalsuite.cli import main

    code = main(["run", "--model", "demo", "--tasks", "dp_finetune_audit", "--task-args", "delta=tiny", "--quiet",
                 "--output-dir", str(tmp_path / "r")])
    assert code == 2 and "option delta must be a number, got 'tiny'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
