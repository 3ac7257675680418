"""Privacy fixtures: a tiny LM fine-tuned on random-word texts with planted canaries and one-run audit canaries,
with and without DP (epsilon 1, delta 1e-5).

The texts are random 12-word strings, so a model can only predict a member well by
remembering it: the planted ground truth the membership attacks and exposure must find.
Session-scoped, so the two fine-tunings (a few seconds each) are shared by every test.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

WORDS = ("the cat sat on the mat while alice lives in paris and bob works as a baker near the river "
         "carol plays the violin every evening dave reads old maps in the library").split()
N_TEXTS, HOLDOUT, N_CANARIES, CANARY_REPEATS, CANDIDATES = 64, 0.5, 4, 4, 200
AUDIT_CANARIES = 64  # one-run audit canaries, each trained on by a fair coin


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(n)]


@pytest.fixture(autouse=True)
def _few_threads(torch_threads):
    torch_threads(1)  # CI has 2 cores shared with other test workers (restored after each test)


@pytest.fixture(scope="session")
def member_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("privacy_data") / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in random_texts(N_TEXTS, seed=0)))
    return path


def run_finetune(tiny_lm, data, root: Path, *, dp: bool, epochs: int = 40, **extra):
    from evalsuite.privacy.config import DPConfig
    from evalsuite.privacy.finetune import finetune

    cfg = DPConfig(dp=dp, target_epsilon=1.0 if dp else None, delta=1e-5 if dp else None, epochs=epochs,
                   batch_size=16, max_physical_batch_size=16, lr=0.01, seq_len=48, seed=0, **extra)
    messages = []
    result = finetune(str(tiny_lm), {"kind": "file", "path": str(data), "text_field": "text"}, cfg,
                      root / "ckpt", holdout_fraction=HOLDOUT, n_canaries=N_CANARIES, canary_repeats=CANARY_REPEATS,
                      output_dir=str(root / "results"), audit=True,
                      audit_options={"n_canary_candidates": CANDIDATES, "audit_canaries": AUDIT_CANARIES},
                      echo=messages.append)
    # One record: the fine-tune's privacy claim and the audit of the checkpoint (evalsuite finetune --audit).
    record = json.loads((root / "results" / result.summary["records"]["evalsuite/dp_finetune"]).read_text())
    return result, record, messages


@pytest.fixture(scope="session")
def nodp_run(tiny_lm, member_data, tmp_path_factory, limited_threads):
    with limited_threads(1):
        return run_finetune(tiny_lm, member_data, tmp_path_factory.mktemp("nodp"), dp=False)


@pytest.fixture(scope="session")
def dp_run(tiny_lm, member_data, tmp_path_factory, limited_threads):
    with limited_threads(1):
        return run_finetune(tiny_lm, member_data, tmp_path_factory.mktemp("dp"), dp=True)


@pytest.fixture()
def copy_checkpoint(tmp_path):
    def copy(folder: Path) -> Path:
        target = tmp_path / "copy"
        shutil.copytree(folder, target)
        return target

    return copy
