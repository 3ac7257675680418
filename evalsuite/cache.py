"""The request cache: answers keyed by model fingerprint plus request.

Results are committed batch by batch while a run is under way, so a run that
is killed resumes where it stopped: finished requests are read back, only the
rest go to the model. Keying on the fingerprint (weights hash or revision,
dtype, max length) means one model's answers are never served for another's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from evalsuite.fingerprint import sha256_json
from evalsuite.requests import KIND_OF, Request, Result, request_key, result_from_json, result_to_json

SCHEMA = "CREATE TABLE IF NOT EXISTS answers (model TEXT, request TEXT, result TEXT, PRIMARY KEY (model, request))"


class RequestCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def lookup(self, fingerprint: dict, requests: Sequence[Request]) -> dict[int, Result]:
        model = sha256_json(fingerprint)
        found = {}
        for i, req in enumerate(requests):
            row = self.db.execute("SELECT result FROM answers WHERE model=? AND request=?",
                                  (model, request_key(req))).fetchone()
            if row is not None:
                found[i] = result_from_json(KIND_OF[type(req)], json.loads(row[0]))
        return found

    def store(self, fingerprint: dict, items: Sequence[tuple[Request, Result]]) -> None:
        model = sha256_json(fingerprint)
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                [(model, request_key(r), json.dumps(result_to_json(v))) for r, v in items],
            )
