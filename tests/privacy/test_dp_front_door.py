"""DP fine-tuning through the front door: the run's model, seed and factory; staged checkpoints; portable
checkpoints; a checkpoint cannot make the audit unpickle a file; every bad input is one line, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.cli import main

SMALL = "batch_size=8,seq_len=24,canaries=2,n_canary_candidates=10"


def _record(out: Path, folder: str) -> tuple[dict, Path]:
    [path] = list(out.glob(f"runs/*/{folder}/record.json"))
    return json.loads(path.read_text()), path.parent


def test_dp_finetune_audit_uses_the_run_model_and_seed_and_builds_one_more_model(tmp_path, tiny_lm, member_data,
                                                                                 monkeypatch, capsys):
    from evalsuite.models.hf_loading import HFAdapter

    built = []
    original = HFAdapter.__init__

    def counting(self, spec, **kwargs):
        built.append(str(spec))
        original(self, spec, **kwargs)

    monkeypatch.setattr(HFAdapter, "__init__", counting)
    out = tmp_path / "results"
    code = main(["run", "--model", str(tiny_lm), "--tasks", "dp_finetune_audit", "--seed", "7", "--quiet",
                 "--task-args", f"data={member_data},{SMALL}", "--output-dir", str(out)])
    assert code == 0, capsys.readouterr().err
    # The run's model once (by the runner), the checkpoint once (the audit's target); the reference is the run's model.
    assert len(built) == 2 and built[0] == str(tiny_lm) and built[1].endswith("checkpoint"), built
    record, folder = _record(out, "evalsuite_dp_finetune_audit")
    assert record["manifest"]["seed"] == 7 and record["details"]["checkpoint"] == "checkpoint"
    assert record["details"]["mia"]["reference_model"] == str(tiny_lm)
    assert {"epsilon", "train_loss", "mia_auc", "mia_ref_auc", "canary_exposure"} <= set(record["metrics"])
    privacy = json.loads((folder / "checkpoint" / "privacy.json").read_text())
    training = json.loads((folder / "checkpoint" / "training.json").read_text())
    assert privacy["seed"] == 7 and training["config"]["seed"] == 7
    assert training["base_model"] == f"hf:{Path(tiny_lm).resolve()}"
    assert not [p for p in folder.iterdir() if ".evalsuite-staging-" in p.name]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_staging_folders_evalsuite_made_are_cleaned_and_nothing_else(tmp_path, tiny_lm, member_data, capsys):
    import socket

    from evalsuite.privacy.checkpoint import STAGING_MARK

    stale = tmp_path / ".ckpt.evalsuite-staging-killed"
    stale.mkdir()
    (stale / "model.safetensors").write_text("half a checkpoint")
    (stale / STAGING_MARK).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    foreign = tmp_path / ".ckpt.evalsuite-staging-not-ours"  # no marker: not evalsuite's, never deleted
    foreign.mkdir()
    code = main(["finetune", "--model", str(tiny_lm), "--data", str(member_data), "--dp", "--noise-multiplier", "1",
                 "--delta", "1e-3", "--batch-size", "8", "--seq-len", "24", "--out", str(tmp_path / "ckpt"),
                 "--output-dir", str(tmp_path / "results"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert not stale.exists() and foreign.is_dir() and (tmp_path / "ckpt" / "privacy.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.evalsuite-staging-not-ours", "ckpt", "results"]


def test_a_failed_save_leaves_no_checkpoint_and_no_staging(tmp_path, tiny_lm, member_data, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    def broken(self, *args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", broken)  # fails mid-save, after the weights
    with pytest.raises(OSError, match="injected"):
        main(["finetune", "--model", str(tiny_lm), "--data", str(member_data), "--noise-multiplier", "1", "--dp",
              "--delta", "1e-3", "--batch-size", "8", "--seq-len", "24", "--out", str(tmp_path / "ckpt"),
              "--output-dir", str(tmp_path / "results"), "--quiet"])
    assert not (tmp_path / "ckpt").exists()
    assert not [p for p in tmp_path.iterdir() if ".evalsuite-staging-" in p.name]
    assert not list((tmp_path / "results").glob("runs/*"))  # a run with no record leaves no run folder


def test_a_moved_checkpoint_is_audited_from_another_directory(tmp_path, tiny_lm, member_data, monkeypatch, capsys):
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(member_data, first / "texts.jsonl")
    code = main(["finetune", "--model", str(tiny_lm), "--data", str(first / "texts.jsonl"), "--dp",
                 "--noise-multiplier", "1", "--delta", "1e-3", "--batch-size", "8", "--seq-len", "24",
                 "--audit-holdout", "0.5", "--out", str(first / "ckpt"), "--output-dir", str(tmp_path / "r1"),
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    training = json.loads((first / "ckpt" / "training.json").read_text())
    assert training["data"]["source"]["path"] == "../texts.jsonl"
    shutil.move(first, tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code = main(["run", "--model", str(tmp_path / "moved" / "ckpt"), "--tasks", "privacy_audit", "--quiet",
                 "--task-args", "reference_model=none", "--output-dir", str(tmp_path / "r2")])
    assert code == 0, capsys.readouterr().err
    record, _ = _record(tmp_path / "r2", "evalsuite_privacy_audit")
    assert record["details"]["mia"]["n_members"] == 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_lm, member_data):
    folder = tmp_path_factory.mktemp("ckpt_for_forging")
    assert main(["finetune", "--model", str(tiny_lm), "--data", str(member_data), "--dp", "--noise-multiplier", "1",
                 "--delta", "1e-3", "--batch-size", "8", "--seq-len", "24", "--audit-holdout", "0.5",
                 "--out", str(folder / "ckpt"), "--output-dir", str(folder / "results"), "--quiet"]) == 0
    return folder / "ckpt"


@pytest.mark.parametrize("base", ["sklearn:/tmp/evil.joblib", "torch:/tmp/evil.pt", "predictions:/tmp/x.csv"])
def test_a_checkpoint_naming_a_pickle_base_model_is_refused(checkpoint, tmp_path, capsys, base):
    forged = tmp_path / "forged"
    shutil.copytree(checkpoint, forged)
    training = json.loads((forged / "training.json").read_text())
    training["base_model"] = base
    (forged / "training.json").write_text(json.dumps(training))
    out = tmp_path / "results"
    code = main(["run", "--model", str(forged), "--tasks", "privacy_audit", "--quiet", "--output-dir", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unpickle" in err[0] and base in err[0], err
    assert not out.exists()


# One row per class of bad input to the privacy tasks and commands: one line naming the problem, exit 2,
# no traceback, nothing written (no results folder, no checkpoint folder).
BAD = [
    ("run-typo", ["run", "--tasks", "dp_finetune_audit", "--task-args", "target_epsilom=1"],
     "Did you mean 'target_epsilon'"),
    ("run-scoped-typo", ["run", "--tasks", "dp_finetune_audit", "--task-args", "dp_finetune_audit:epoch=2"],
     "no option 'epoch'"),
    ("run-wrong-type", ["run", "--tasks", "dp_finetune_audit", "--task-args", "epochs=two"],
     "epochs must be a whole number"),
    ("run-bool", ["run", "--tasks", "dp_finetune", "--task-args", "lora=maybe,noise_multiplier=1,delta=1e-3"],
     "lora must be true or false"),
    ("run-out-of-bounds", ["run", "--tasks", "dp_finetune_audit", "--task-args", "holdout=1.5"], "holdout must be < 1"),
    ("run-eps-inf", ["run", "--tasks", "dp_finetune_audit", "--task-args", "target_epsilon=inf"],
     "target_epsilon must be a finite number"),
    ("run-eps-zero", ["run", "--tasks", "dp_finetune_audit", "--task-args", "target_epsilon=0"],
     "target_epsilon must be > 0"),
    ("run-delta-one", ["run", "--tasks", "dp_finetune_audit", "--task-args", "delta=1"], "delta must be < 1"),
    ("run-delta-over-1/N", ["run", "--tasks", "dp_finetune_audit", "--task-args", "delta=0.1"],
     "delta must be in (0, 1/N)"),
    ("run-sample-rate", ["run", "--tasks", "dp_finetune_audit", "--task-args", "batch_size=1000"],
     "dp_finetune_audit': batch_size must be in [1, N="),  # named as written in --task-args, not --batch-size
    ("run-private-false-with-epsilon", ["run", "--tasks", "dp_finetune_audit", "--task-args",
                                        "private=false,target_epsilon=2"],
     "target_epsilon applies only to private training; drop it, or set private=true"),
    ("run-noise-zero", ["run", "--tasks", "dp_finetune", "--task-args", "noise_multiplier=0,delta=1e-3"],
     "noise_multiplier must be > 0"),
    ("run-out-is-a-file", ["run", "--tasks", "dp_finetune", "--task-args", "noise_multiplier=1,delta=1e-3,out={file}"],
     "is a file"),
    ("audit-pickle-reference", ["run", "--tasks", "privacy_audit", "--task-args", "reference_model=sklearn:/x.joblib"],
     "unpickle"),
    ("audit-one-file", ["run", "--tasks", "privacy_audit", "--task-args", "members_file={data}"],
     "give both members_file and nonmembers_file"),
    ("curve-eps-inf", ["privacy-curve", "--epsilons", "1,inf"], "each epsilon must be finite and > 0, got inf"),
    ("curve-eps-nan", ["privacy-curve", "--epsilons", "nan"], "each epsilon must be finite and > 0, got nan"),
    ("curve-eps-zero", ["privacy-curve", "--epsilons", "0"], "each epsilon must be finite and > 0, got 0"),
    ("curve-eps-text", ["privacy-curve", "--epsilons", "one"], "'one' is not a number"),
    ("curve-delta-one", ["privacy-curve", "--epsilons", "1", "--delta", "1"], "delta must be < 1"),
    ("curve-unknown-task", ["privacy-curve", "--epsilons", "1", "--tasks", "demo_fact_mc"], "unknown task"),
    ("curve-out-under-a-file", ["privacy-curve", "--epsilons", "1", "--out", "{file}/curve"], "is a file"),
    ("finetune-eps-inf", ["finetune", "--dp", "--target-epsilon", "inf", "--delta", "1e-3"],
     "--target-epsilon must be a finite number"),
    ("finetune-out-under-a-file", ["finetune", "--out", "{file}/ckpt"], "is a file"),
    ("finetune-output-dir-is-a-file", ["finetune", "--output-dir", "{file}"], "--output-dir"),
]


def _argv(row: list[str], model: str, data: str, tmp_path: Path) -> list[str]:
    (tmp_path / "plain.txt").write_text("not a folder")
    argv = [a.replace("{file}", str(tmp_path / "plain.txt")).replace("{data}", data) for a in row]
    command = argv[0]
    flags = {"--model": model, "--output-dir": str(tmp_path / "results")}
    if command in ("finetune", "privacy-curve"):
        flags.update({"--data": data, "--out": str(tmp_path / "ckpt")})
    if command == "privacy-curve":
        flags.update({"--delta": "1e-3", "--tasks": "demo_heldout_ppl"})
    for flag, value in flags.items():
        if flag not in argv:
            argv += [flag, value]
    return [*argv, "--quiet"]


@pytest.mark.parametrize("row, fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_privacy_input_is_one_line_exit_2_nothing_written(tmp_path, tiny_lm, member_data, capsys, row, fragment):
    code = main(_argv(row, str(tiny_lm), str(member_data), tmp_path))
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("evalsuite: error: "), err
    assert fragment in lines[0] and "Traceback" not in err, lines[0]
    assert not (tmp_path / "results").exists() and not (tmp_path / "ckpt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]
