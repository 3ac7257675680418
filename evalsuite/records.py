"""Records on disk: one per (model, task), written atomically, with a schema version.

A run folder holds `run.json` and, per task, `record.json` (metrics with
direction, confidence interval and method, sample count, and the manifest)
next to `samples.jsonl` (per-sample scores). Every file is written to a
temporary name and renamed into place, so a reader never sees half a file and
a killed run leaves no partial record behind.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

SCHEMA_VERSION = 1


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def slug(text: str) -> str:
    """A file-system-safe name for a model or task."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:80] or "x"


def metric_entry(value: float, direction: dict, ci: tuple[float, float] | None, ci_method: str, n: int,
                 confidence: float = 0.95) -> dict:
    return {"value": value, **direction, "ci": list(ci) if ci else None, "ci_method": ci_method,
            "confidence": confidence, "n": n}


def write_record(run_dir: Path, task: str, record: dict, samples: list[dict]) -> Path:
    """Samples first, record last: a record on disk implies its samples are complete."""
    folder = Path(run_dir) / slug(task)
    atomic_write_jsonl(folder / "samples.jsonl", samples)
    record = {"schema_version": SCHEMA_VERSION, **record, "samples_file": "samples.jsonl"}
    atomic_write_json(folder / "record.json", record)
    return folder / "record.json"


def read_record(path: str | Path) -> dict:
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    if record.get("schema_version") != SCHEMA_VERSION:
        from evalsuite.errors import UserError

        raise UserError(f"record '{path}' has schema_version {record.get('schema_version')}, "
                        f"this evalsuite reads {SCHEMA_VERSION}; re-run the evaluation")
    return record
