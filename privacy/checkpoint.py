"""Fine-tuned checkpoints: a Hugging Face folder plus its privacy record, written whole or not at all.

`privacy.json` holds what the guarantee rests on (accountant, noise multiplier,
sampling rate, steps, clipping norm, epsilon, delta, target epsilon, the
per-example gradient mode that ran, seed); `training.json` holds the base model,
the configuration and the data manifest (source, member/non-member indices,
planted canaries) that a privacy audit needs. The folder is assembled under a
temporary name and renamed into place, so `evalsuite run --model DIR` never sees
half a checkpoint.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from evalsuite.errors import UserError

PRIVACY_FILE, TRAINING_FILE = "privacy.json", "training.json"
PRIVACY_KEYS = ("dp", "accountant", "noise_multiplier", "sample_rate", "steps", "max_grad_norm", "epsilon",
                "delta", "target_epsilon", "grad_sample_mode", "seed")


def check_output_dir(out: str | Path) -> Path:
    """Refuse an output folder that already holds something (checked before training starts)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output folder '{out}' already exists and is not empty; pass a new --out")
    return out


def save_checkpoint(out: str | Path, module, tokenizer, privacy: dict, training: dict) -> Path:
    from evalsuite.records import atomic_write_json

    out = check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        module.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        record = {k: privacy.get(k) for k in PRIVACY_KEYS}
        record.update({k: v for k, v in privacy.items() if k not in record})
        atomic_write_json(tmp / PRIVACY_FILE, record)
        atomic_write_json(tmp / TRAINING_FILE, training)
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
    return tuple(json.loads(f.read_text(encoding="utf-8")) for f in files)
