"""The request cache: answers keyed by model fingerprint plus request.

Results are committed batch by batch while a run is under way, so a run that
is killed resumes where it stopped: finished requests are read back, only the
rest go to the model. Keying on the fingerprint (weights hash or revision,
dtype, max length) means one model's answers are never served for another's.

A cache file that is damaged (a folder in its place, not SQLite, truncated, or
another program's database) is a one-line UserError whose fix is `--no-cache`
or deleting the file: the cache only saves time, deleting it loses no result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from evalsuite.fingerprint import sha256_json
from evalsuite.requests import KIND_OF, Request, Result, request_key, result_from_json, result_to_json
from evalsuite.store import open_sqlite, sqlite_guard

SCHEMA = "CREATE TABLE IF NOT EXISTS answers (model TEXT, request TEXT, result TEXT, PRIMARY KEY (model, request))"
TABLES = {"answers": {"model", "request", "result"}}


class RequestCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fix = f"run with --no-cache, or delete '{self.path}' (answers are recomputed)"
        # No full quick_check: a cache can be large. The header and size checks catch a truncated or
        # foreign file cheaply; damage found later is turned into the same one-line error by _guard.
        self.db = open_sqlite(self.path, what="request cache", fix=self.fix, schema=SCHEMA, tables=TABLES,
                              quick_check=False, foreign_fix="run with --no-cache, or move it away (a new cache is "
                                                             "made in its place)")
        with self._guard():
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")

    def _guard(self):
        return sqlite_guard("request cache", self.path, self.fix)

    def close(self) -> None:
        self.db.close()

    def lookup(self, fingerprint: dict, requests: Sequence[Request]) -> dict[int, Result]:
        model = sha256_json(fingerprint)
        found = {}
        with self._guard():
            for i, req in enumerate(requests):
                row = self.db.execute("SELECT result FROM answers WHERE model=? AND request=?",
                                      (model, request_key(req))).fetchone()
                if row is not None:
                    found[i] = result_from_json(KIND_OF[type(req)], json.loads(row[0]))
        return found

    def store(self, fingerprint: dict, items: Sequence[tuple[Request, Result]]) -> None:
        model = sha256_json(fingerprint)
        with self._guard(), self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                [(model, request_key(r), json.dumps(result_to_json(v))) for r, v in items],
            )
