"""Fine-tuned checkpoints: a Hugging Face folder plus its privacy record, written whole or not at all.

`privacy.json` holds what the guarantee rests on (accountant, noise multiplier,
sampling rate, steps, clipping norm, epsilon, delta, target epsilon, the
per-example gradient mode that ran, seed); `training.json` holds the base model,
the configuration and the data manifest (source, member/non-member indices,
planted canaries) that a privacy audit needs.

The folder is assembled in a staging folder next to it and renamed into place when
complete, so `evalsuite run --model DIR` never sees half a checkpoint and a kill
leaves no checkpoint behind. A staging folder carries a marker naming the process
that made it; one left by a process that no longer runs (a kill) is removed the next
time a checkpoint is saved in the same place. Nothing without that marker is ever
deleted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.store import pid_alive, writer_fields

PRIVACY_FILE, TRAINING_FILE = "privacy.json", "training.json"
PRIVACY_KEYS = ("dp", "accountant", "noise_multiplier", "sample_rate", "steps", "max_grad_norm", "epsilon",
                "delta", "target_epsilon", "grad_sample_mode", "seed")
STAGING_MARK = ".evalsuite-staging.json"
_STAGING_INFIX = ".evalsuite-staging-"


def output_problem(out: str | Path, flag: str = "--out") -> str | None:
    """Why a checkpoint could not be saved at `out` (None when it can); checked before training, creates nothing."""
    from evalsuite.config import writable_folder_problem

    out = Path(out)
    if out.exists() and not out.is_dir():
        return f"{flag} '{out}' is a file; pass a new folder for the checkpoint"
    if out.is_dir() and any(out.iterdir()):
        return f"{flag} '{out}' already exists and is not empty; pass a new folder for the checkpoint"
    return writable_folder_problem(out, flag)


def check_output_dir(out: str | Path, flag: str = "--out") -> Path:
    """Refuse an output folder that holds something or cannot be written (checked before training starts)."""
    problem = output_problem(out, flag)
    if problem:
        raise UserError(problem)
    return Path(out)


def clean_stale_staging(out: str | Path) -> list[Path]:
    """Remove staging folders for `out` left by a process of this machine that no longer runs."""
    out = Path(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for folder in out.parent.glob(f".{out.name}{_STAGING_INFIX}*"):
        mark = folder / STAGING_MARK
        try:
            owner = json.loads(mark.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not (verifiably) ours: never touched
        if not isinstance(owner, dict) or owner.get("host") != writer_fields()["host"]:
            continue
        pid = owner.get("pid")
        if isinstance(pid, int) and not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def save_checkpoint(out: str | Path, module, tokenizer, privacy: dict, training: dict) -> Path:
    from evalsuite.records import atomic_write_json

    out = check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}{_STAGING_INFIX}"))
    try:
        atomic_write_json(tmp / STAGING_MARK, {**writer_fields(),
                                               "target": out.name})
        module.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = {k: privacy.get(k) for k in PRIVACY_KEYS}
        record.update({k: v for k, v in privacy.items() if k not in record})
        atomic_write_json(tmp / PRIVACY_FILE, record)
        atomic_write_json(tmp / TRAINING_FILE, training)
        (tmp / STAGING_MARK).unlink()
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_checkpoint_info(folder: str | Path) -> tuple[dict, dict]:
    """(privacy, training) of a checkpoint folder; a folder without them is not a fine-tuned checkpoint."""
    folder = Path(folder)
    files = [folder / PRIVACY_FILE, folder / TRAINING_FILE]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise UserError(f"'{folder}' has no {' or '.join(missing)}: it is not a checkpoint from "
                        "`evalsuite finetune`; audit one of those, or pass members_file/nonmembers_file")
    out = []
    for f in files:
        try:
            value = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"checkpoint file '{f}' cannot be read ({exc}); fine-tune the checkpoint again") from None
        if not isinstance(value, dict):
            raise UserError(f"checkpoint file '{f}' must hold a JSON object; fine-tune the checkpoint again")
        out.append(value)
    return out[0], out[1]
