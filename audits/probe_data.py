"""The project's own probe data (audits/data/) and loaders for users' extended copies.

Every built-in probe reads one file here; a user extends a probe by copying the file,
adding rows or terms, and pointing the probe's builder (or environment variable, see
docs/audits.md) at the copy. Formats are described in audits/data/README.md.
"""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import UserError

DATA_DIR = Path(__file__).parent / "data"


def load_yaml(path: str | Path) -> dict:
    from evalsuite.records import read_yaml

    data = read_yaml(path, what="probe data file", fix="check the path and fix the file")
    if not isinstance(data, dict):
        raise UserError(f"probe data file '{path}' must hold a mapping at the top level")
    return data


def load_jsonl(path: str | Path) -> list[dict]:
    from evalsuite.records import read_jsonl

    rows = read_jsonl(path, what="probe data file", fix="check the path and fix that line")
    if not rows:
        raise UserError(f"probe data file '{path}' has no rows")
    return rows


def require_fields(rows: list[dict], fields: tuple[str, ...], source: str) -> None:
    """One UserError naming the first row that lacks a field the format needs."""
    for i, row in enumerate(rows):
        missing = [f for f in fields if f not in row or row[f] is None]
        if missing:
            raise UserError(f"{source}: row {i + 1} lacks {', '.join(missing)} (needs {', '.join(fields)})")
