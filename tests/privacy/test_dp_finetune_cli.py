"""`evalsuite finetune` end to end, which weights train (LoRA, last layers), and the utility curve."""

from __future__ import annotations

import json

import pytest

from evalsuite.cli import main


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_cli_dp_finetune_saves_a_loadable_checkpoint_with_its_privacy_record(tmp_path, tiny_lm, member_data, capsys):
    out = tmp_path / "ckpt"
    code = main(["finetune", "--model", str(tiny_lm), "--data", str(member_data), "--dp", "--noise-multiplier",
                 "1.0", "--delta", "1e-3", "--accountant", "rdp", "--epochs", "2", "--batch-size", "8",
                 "--max-physical-batch-size", "4", "--seq-len", "32", "--grad-sample-mode", "ghost",
                 "--out", str(out), "--output-dir", str(tmp_path / "results")])
    assert code == 0, capsys.readouterr().err
    privacy = json.loads((out / "privacy.json").read_text())
    assert privacy["grad_sample_mode"] == "ghost" and privacy["untied_embeddings"] is True
    assert privacy["sample_rate"] == pytest.approx(1 / 8) and privacy["steps"] == 16
    from evalsuite.privacy.accounting import epsilon_for

    assert privacy["epsilon"] == pytest.approx(epsilon_for(1.0, 1 / 8, 16, 1e-3, "rdp"))
    assert "epsilon" in capsys.readouterr().out
    from evalsuite.models.hf import HFCausalLM

    model = HFCausalLM(str(out), progress=False)  # what `evalsuite run --model DIR` loads
    assert model.module.lm_head.weight is not model.module.transformer.wte.weight


def test_train_last_layers_changes_only_the_last_block(tmp_path, tiny_lm, member_data):
    from evalsuite.privacy.config import DPConfig
    from evalsuite.privacy.finetune import finetune

    cfg = DPConfig(dp=True, noise_multiplier=0.5, delta=1e-3, epochs=1, batch_size=8, seq_len=32,
                   train_last_layers=1, lr=0.05)
    result = finetune(str(tiny_lm), {"kind": "file", "path": str(member_data)}, cfg, tmp_path / "ckpt",
                      output_dir=None)
    before, after = weights(tiny_lm), weights(result.checkpoint)
    changed = {k for k in before if not (before[k] == after[k]).all()}
    assert changed and all(k.startswith("transformer.h.1.") for k in changed), changed
    assert result.privacy["trainable"] == "last 1 of 2 blocks"


def test_lora_trains_adapters_and_merges_them(tmp_path, tiny_lm, member_data):
    from evalsuite.privacy.config import DPConfig
    from evalsuite.privacy.finetune import finetune

    cfg = DPConfig(dp=True, noise_multiplier=0.5, delta=1e-3, epochs=1, batch_size=8, seq_len=32, lora=True,
                   lora_rank=2, lr=0.05)
    result = finetune(str(tiny_lm), {"kind": "file", "path": str(member_data)}, cfg, tmp_path / "ckpt",
                      output_dir=None)
    before, after = weights(tiny_lm), weights(result.checkpoint)
    assert set(before) == set(after)  # merged: a plain GPT-2 folder, no adapter tensors
    changed = {k for k in before if not (before[k] == after[k]).all()}
    assert changed and all("attn.c_attn.weight" in k for k in changed), changed
    assert result.privacy["grad_sample_mode"] == "ghost"  # embeddings frozen, so nothing tied is trainable


def test_utility_curve_records_and_plots_each_epsilon_and_no_dp(tmp_path, tiny_lm, member_data):
    from evalsuite.privacy.config import DPConfig
    from evalsuite.privacy.utility_curve import utility_curve

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "member_ppl.py").write_text(
        "from evalsuite import load_records, perplexity, task\n"
        f"@task('member_ppl')\ndef member_ppl():\n    return perplexity(load_records({str(member_data)!r})[:16], "
        "text='text')\n")
    cfg = DPConfig(dp=True, delta=1e-3, epochs=3, batch_size=16, max_physical_batch_size=16, seq_len=32, lr=0.01)
    summary = utility_curve(str(tiny_lm), {"kind": "file", "path": str(member_data)}, cfg, [1.0], ["member_ppl"],
                            tmp_path / "ckpts", tasks_path=[str(tasks)], output_dir=str(tmp_path / "results"))
    record = json.loads((tmp_path / "results" / next(iter(summary["records"].values()))).read_text())
    points = {(p["target_epsilon"], p["metric"]): p for p in record["details"]["privacy_utility"]}
    private, plain = points[(1.0, "perplexity")], points[(None, "perplexity")]
    assert private["epsilon"] <= 1.0 and plain["epsilon"] is None
    assert plain["value"] < private["value"]  # the non-private model fits its own training texts better
    assert private["ci"][0] <= private["value"] <= private["ci"][1]
    folder = tmp_path / "results" / "runs" / summary["run_id"] / "evalsuite_privacy_utility"
    assert (folder / "utility_curve.png").is_file()
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == ["eps_1", "no_dp"]


def test_privacy_curve_cli_rejects_a_bad_epsilon_before_training(tmp_path, tiny_lm, member_data, capsys):
    code = main(["privacy-curve", "--model", str(tiny_lm), "--data", str(member_data), "--epsilons", "1,-2",
                 "--delta", "1e-3", "--tasks", "demo_heldout_ppl", "--out", str(tmp_path / "c"),
                 "--output-dir", str(tmp_path / "r")])
    assert code == 2 and "each epsilon must be finite and > 0, got -2" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()
