"""The results store: an embedded SQLite index of every run, record and metric.

Files on disk are the source of truth; the store indexes them so the
leaderboard and the release gates can query runs without walking folders, and
`rebuild_index` recreates it from the files. Paths in the index are relative to
the results folder (the folder holding index.sqlite), so a results folder that
is moved or copied reads its own files from any working directory. Indexes
written before that hold absolute paths: `.../runs/<run_id>/...` is mapped back
into the store's own folder, never read where it points.

Opening an index or cache that is damaged (a folder in its place, not SQLite,
truncated, corrupted, or another program's database) is a one-line UserError
naming the file and the fix. `reap_interrupted` marks runs whose writer died.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from evalsuite.errors import UserError

STORE_FILE = "index.sqlite"
STORE_VERSION = 2  # PRAGMA user_version: 2 = paths relative to the results folder
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, model TEXT, fingerprint TEXT, status TEXT,
    started_at TEXT, finished_at TEXT, path TEXT, config TEXT);
CREATE TABLE IF NOT EXISTS records (
    run_id TEXT, task TEXT, path TEXT, PRIMARY KEY (run_id, task));
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT, task TEXT, metric TEXT, value REAL, ci_low REAL, ci_high REAL,
    ci_method TEXT, direction TEXT, ideal REAL, n INTEGER, PRIMARY KEY (run_id, task, metric));
PRAGMA user_version = 2;
"""
TABLES = {"runs": {"run_id", "model", "fingerprint", "status", "started_at", "finished_at", "path", "config"},
          "records": {"run_id", "task", "path"},
          "metrics": {"run_id", "task", "metric", "value", "ci_low", "ci_high", "ci_method", "direction", "ideal",
                      "n"}}
SQLITE_HEADER = b"SQLite format 3\x00"


# -- opening SQLite files that may be damaged ---------------------------------------------------------


def _header_problem(path: Path) -> str | None:
    """Why `path` is not a whole SQLite file, from its first 100 bytes and its size (cheap)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(100)
    if not head.startswith(SQLITE_HEADER[: len(head)]) or (len(head) >= 16 and head[:16] != SQLITE_HEADER):
        return "is not an SQLite database (damaged, or another kind of file)"
    if len(head) < 100:
        return f"is truncated ({size} bytes)"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The in-header page count is valid when the change counter matches "version-valid-for".
    if head[24:28] == head[92:96] and pages and size < pages * page_size:
        return f"is truncated ({size} bytes of {pages * page_size})"
    return None


def open_sqlite(path: str | Path, *, what: str, fix: str, schema: str, tables: dict[str, set[str]],
                create: bool = True, quick_check: bool = True, foreign_fix: str | None = None) -> sqlite3.Connection:
    """Connect to an SQLite file that should hold `tables`, or create it (when `create`) with `schema`.

    A folder in its place, a file that is not SQLite or is truncated or corrupted (`PRAGMA quick_check`
    when `quick_check`), or a database without these tables (another program's) is a one-line UserError:
    "<what> '<path>' <problem>; <fix>", with `foreign_fix` for a folder or another program's database
    (which must not be deleted blindly).
    """
    path = Path(path)
    foreign_fix = foreign_fix or f"move it away, then: {fix}"

    def fail(problem: str, fix: str = fix):
        return UserError(" ".join(f"{what} '{path}' {problem}; {fix}".split("\n")))

    if path.is_dir():
        raise fail("is a folder, not an SQLite file", foreign_fix)
    exists = path.exists()
    if exists and path.stat().st_size:
        problem = _header_problem(path)
        if problem:
            raise fail(problem)
    elif not create:
        raise fail("is missing" if not exists else "is empty")
    db = None
    try:
        db = sqlite3.connect(path, timeout=30)
        if quick_check and exists:
            rows = db.execute("PRAGMA quick_check(1)").fetchall()
            if [tuple(r) for r in rows] != [("ok",)]:
                detail = " ".join(str(rows[0][0]).replace("*** in database main ***", "").split())
                raise fail(f"is corrupted (quick_check: {detail[:100]})")
        found = {name: {c[1] for c in db.execute(f"PRAGMA table_info('{name}')")}
                 for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not found and create:
            db.executescript(schema)
            db.commit()
        elif any(not cols <= found.get(name, set()) for name, cols in tables.items()):
            names = ", ".join(sorted(found)) or "none"
            raise fail(f"is an SQLite database but not evalsuite's {what} (its tables: {names[:120]})",
                       foreign_fix)
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise fail(f"is damaged ({exc})") from None
    except BaseException:
        if db is not None:
            db.close()
        raise
    return db


@contextmanager
def sqlite_guard(what: str, path: Path, fix: str):
    """An SQLite error while using an opened file (damage found late) as a one-line UserError."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise UserError(f"{what} '{path}' is locked by another process ({exc}); wait for it, then retry") from None
        raise UserError(f"{what} '{path}' is damaged ({exc}); {fix}") from None


# -- paths relative to the results folder ----------------------------------------------------------


def portable_path(path: str | Path, results_dir: str | Path) -> str:
    """`path` (absolute, or relative to the working directory) relative to `results_dir`, '/'-separated.

    What the index and run.json store. A path already relative to `results_dir` is returned as it is.
    Raises ValueError for a path outside the results folder (a writer's bug).
    """
    root = Path(results_dir).resolve()
    p = Path(path)
    candidates = [p] if p.is_absolute() else sorted([Path.cwd() / p, root / p], key=lambda c: not c.exists())
    for c in candidates:
        try:
            return PurePosixPath(c.resolve().relative_to(root)).as_posix()
        except ValueError:
            continue
    raise ValueError(f"'{path}' is not inside the results folder '{root}'")


def resolve_stored(stored: str, results_dir: str | Path, run_id: str) -> Path:
    """Where a path from the index or a run.json lies inside `results_dir`.

    Relative paths are joined to the results folder. An absolute one (older stores) is mapped by its
    `runs/<run_id>/...` tail into this folder, so a copied folder never reads the original's files.
    """
    root = Path(results_dir)
    p = PurePosixPath(str(stored).replace("\\", "/"))
    if not p.is_absolute():
        return root / Path(*p.parts) if p.parts else root
    parts = p.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i - 1] == "runs" and parts[i] == run_id:
            return root / Path(*parts[i - 1:])
    raise UserError(f"the index '{root / STORE_FILE}' lists '{stored}', outside this results folder; rebuild "
                    f"the index: evalsuite index rebuild --output-dir {root}")


def writer_fields() -> dict:
    """The run-summary fields that say which process writes a run (read by `reap_interrupted`)."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


class ResultsStore:
    """The index of one results folder (`path` is its index.sqlite)."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        self.root = Path(os.path.abspath(self.path.parent))  # absolute: chdir after opening is harmless
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        self.fix = f"rebuild it with: evalsuite index rebuild --output-dir {self.root}"
        self.db = open_sqlite(self.path, what="results index", fix=self.fix, schema=SCHEMA, tables=TABLES,
                              create=create, quick_check=True,
                              foreign_fix=f"move it away, then rebuild the index: evalsuite index rebuild "
                                          f"--output-dir {self.root}")
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _guard(self):
        return sqlite_guard("results index", self.path, self.fix)

    def _portable(self, path) -> str:
        return portable_path(path, self.root)

    def upsert_run(self, run: dict) -> None:
        path = self._portable(run["path"]) if run.get("path") else f"runs/{run['run_id']}"
        with self._guard(), self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run["run_id"], run["model"], json.dumps(run.get("fingerprint"), sort_keys=True, default=str),
                 run["status"], run.get("started_at"), run.get("finished_at"), path,
                 json.dumps(run.get("config"), sort_keys=True, default=str)),
            )

    def add_record(self, run_id: str, task: str, path: str | Path, metrics: dict) -> None:
        with self._guard(), self.db:
            self.db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (run_id, task, self._portable(path)))
            for name, m in metrics.items():
                ci = m.get("ci") or (None, None)
                self.db.execute(
                    "INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, task, name, m["value"], ci[0], ci[1], m.get("ci_method"), m["direction"],
                     m.get("ideal"), m.get("n")),
                )

    def set_status(self, run_id: str, status: str) -> None:
        with self._guard(), self.db:
            self.db.execute("UPDATE runs SET status=? WHERE run_id=?", (status, run_id))

    def delete_run(self, run_id: str) -> None:
        with self._guard(), self.db:
            for table in ("runs", "records", "metrics"):
                self.db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))

    def runs(self) -> list[sqlite3.Row]:
        with self._guard():
            return self.db.execute("SELECT * FROM runs ORDER BY started_at DESC, run_id DESC").fetchall()

    def find_run(self, ref: str) -> sqlite3.Row:
        """A run by exact id or unique id prefix (plain text: no wildcards); 'latest' is the newest run."""
        rows = self.runs()
        if ref == "latest":
            found = rows[:1]
        else:
            found = [r for r in rows if r["run_id"] == ref] or [r for r in rows if ref and r["run_id"].startswith(ref)]
        if not found:
            raise UserError(f"no run '{ref}' in {self.path}; list runs with: evalsuite show --list "
                            f"--output-dir {self.root}")
        if len(found) > 1:
            raise UserError(f"run '{ref}' is ambiguous ({len(found)} runs match); give more of the run id")
        return found[0]

    def records_of(self, run_id: str) -> list[sqlite3.Row]:
        """Index rows of a run's records; their `path` is as stored (use `record_files` for real paths)."""
        with self._guard():
            return self.db.execute("SELECT * FROM records WHERE run_id=? ORDER BY task", (run_id,)).fetchall()

    def record_files(self, run_id: str) -> dict[str, Path]:
        """task -> its record.json inside this results folder."""
        return {row["task"]: resolve_stored(row["path"], self.root, run_id) for row in self.records_of(run_id)}

    def run_folder(self, row) -> Path:
        """The folder of a run (an index row of `runs`) inside this results folder."""
        return resolve_stored(row["path"] or f"runs/{row['run_id']}", self.root, row["run_id"])


# -- rebuilding and reaping -----------------------------------------------------------------------------


def _foreign_tables(path: Path) -> list[str]:
    """The tables of a readable SQLite file at `path` that has tables but not the index's (else [])."""
    if not path.is_file() or not path.stat().st_size or _header_problem(path):
        return []
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return []  # damaged: rebuilding replaces it
    return sorted(names) if names and not set(TABLES) <= set(names) else []


def _run_folders(root: Path):
    runs = root / "runs"
    if not runs.is_dir():
        return
    for folder in sorted(runs.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and (folder / "run.json").is_file():
            yield folder


def rebuild_index(results_dir: str | Path) -> int:
    """Recreate `results_dir`/index.sqlite from the run.json and record.json files; returns records indexed.

    Built in a temporary file and renamed into place, so a reader sees the old index or the new one. A run
    folder counts when its run.json names it (run_id equal to the folder name); its records are the
    record.json files in its task folders whose run_id matches. A damaged file is a UserError naming it.
    Do not rebuild while a run is writing to the same folder.
    """
    from evalsuite.records import read_record, read_run_summary

    root = Path(results_dir)
    if not root.is_dir():
        raise UserError(f"results folder '{root}' does not exist; pass the --output-dir of `evalsuite run`")
    target = root / STORE_FILE
    if target.is_dir():
        raise UserError(f"results index '{target}' is a folder, not an SQLite file; move it away, then rebuild")
    theirs = _foreign_tables(target)
    if theirs:
        raise UserError(f"'{target}' is another program's SQLite database (tables: {', '.join(theirs)[:120]}), "
                        "not evalsuite's results index; move it away, then rebuild")
    tmp = root / f".{STORE_FILE}.rebuild-{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    count = 0
    store = ResultsStore(tmp)
    try:
        for folder in _run_folders(root):
            summary = read_run_summary(folder / "run.json")
            run_id = summary["run_id"]
            if run_id != folder.name:
                continue  # not this folder's run (a renamed copy?): its files are not indexed under another id
            records = [(p, read_record(p)) for p in sorted(folder.glob("*/record.json"))]
            store.upsert_run({**summary, "path": f"runs/{run_id}"})
            for path, record in records:
                if record["run_id"] == run_id:
                    store.add_record(run_id, record["task"], path, record["metrics"])
                    count += 1
        store.close()
        # A hot journal left by a killed writer must not be replayed into the new file.
        for suffix in ("-journal", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        store.close()
        tmp.unlink(missing_ok=True)
        raise
    return count


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (one we may not signal counts as alive)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but is not ours, or we cannot tell: leave its run alone
    return True


def reap_interrupted(results_dir: str | Path) -> list[dict]:
    """Mark runs left 'running' by a process that died; returns [{run_id, action, reason}].

    A run indexed as running whose run.json is gone is marked interrupted in the index. One whose run.json
    names a process on this host that no longer runs is marked interrupted in run.json (atomically) and in
    the index; if it wrote no record, its folder (an evalsuite run folder: runs/<run_id>/run.json naming
    run_id) is removed with its index rows. Runs of other hosts, live processes, or run.json files without
    pid/host (written before they were recorded) are left alone. Nothing outside runs/<run_id> is touched.
    """
    from evalsuite.records import atomic_write_json, read_run_summary

    root = Path(results_dir)
    if not (root / STORE_FILE).is_file():
        return []
    host = socket.gethostname()
    reaped = []
    with ResultsStore(root / STORE_FILE, create=False) as store:
        running = [r for r in store.runs() if r["status"] == "running"]
        for row in running:
            run_id = row["run_id"]
            folder = store.run_folder(row)
            run_json = folder / "run.json"
            if not run_json.is_file():
                store.set_status(run_id, "interrupted")
                reaped.append({"run_id": run_id, "action": "interrupted", "reason": "its run.json is gone"})
                continue
            try:
                summary = read_run_summary(run_json)
            except UserError:
                continue  # damaged: `evalsuite index rebuild` names it; never guessed at here
            if summary["run_id"] != run_id or summary.get("host") != host or not isinstance(summary.get("pid"), int):
                continue
            if summary["status"] != "running":  # the index missed the run's last update: the file wins
                store.set_status(run_id, summary["status"])
                continue
            if pid_alive(summary["pid"]):
                continue
            reason = f"its process {summary['pid']} on {host} is gone"
            own = folder.resolve() == (root / "runs" / run_id).resolve() and not folder.is_symlink()
            if own and not any(folder.glob("*/record.json")):
                shutil.rmtree(folder)
                store.delete_run(run_id)
                reaped.append({"run_id": run_id, "action": "removed", "reason": reason + " and it wrote no record"})
                continue
            summary["status"] = "interrupted"
            summary["interrupted_at"] = datetime.now(timezone.utc).isoformat()
            atomic_write_json(run_json, summary)
            store.set_status(run_id, "interrupted")
            reaped.append({"run_id": run_id, "action": "interrupted", "reason": reason})
    return reaped
