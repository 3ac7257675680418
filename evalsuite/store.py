"""The results store: an embedded SQLite index of every run, record and metric.

Files on disk are the source of truth; the store indexes them so the
leaderboard and the release gates can query runs without walking folders.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from evalsuite.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, model TEXT, fingerprint TEXT, status TEXT,
    started_at TEXT, finished_at TEXT, path TEXT, config TEXT);
CREATE TABLE IF NOT EXISTS records (
    run_id TEXT, task TEXT, path TEXT, PRIMARY KEY (run_id, task));
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT, task TEXT, metric TEXT, value REAL, ci_low REAL, ci_high REAL,
    ci_method TEXT, direction TEXT, ideal REAL, n INTEGER, PRIMARY KEY (run_id, task, metric));
"""


class ResultsStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def upsert_run(self, run: dict) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run["run_id"], run["model"], json.dumps(run.get("fingerprint")), run["status"],
                 run.get("started_at"), run.get("finished_at"), run["path"], json.dumps(run.get("config"))),
            )

    def add_record(self, run_id: str, task: str, path: Path, metrics: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (run_id, task, str(path)))
            for name, m in metrics.items():
                ci = m.get("ci") or (None, None)
                self.db.execute(
                    "INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, task, name, m["value"], ci[0], ci[1], m.get("ci_method"), m["direction"],
                     m.get("ideal"), m.get("n")),
                )

    def delete_run(self, run_id: str) -> None:
        with self.db:
            for table in ("runs", "records", "metrics"):
                self.db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))

    def runs(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()

    def find_run(self, ref: str) -> sqlite3.Row:
        """A run by id or unique id prefix; 'latest' is the newest run."""
        if ref == "latest":
            rows = self.db.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM runs WHERE run_id LIKE ? ORDER BY started_at DESC",
                                   (ref.replace("%", "") + "%",)).fetchall()
        if not rows:
            raise UserError(f"no run '{ref}' in {self.path}; list runs with: evalsuite show --list")
        if len(rows) > 1 and rows[0]["run_id"] != ref:
            raise UserError(f"run '{ref}' is ambiguous ({len(rows)} runs match); give more of the run id")
        return rows[0]

    def records_of(self, run_id: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM records WHERE run_id=? ORDER BY task", (run_id,)).fetchall()
