"""Typed records against their published schema, and damaged files as one-line errors.

Real files only: every case writes a file the way a damaged disk, a hand edit, an older
evalsuite or another program would, then reads it through the code the CLI uses.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evalsuite.cache import RequestCache
from evalsuite.errors import UserError
from evalsuite.leaderboards.results import open_store
from evalsuite.records import (SCHEMA_VERSION, Metric, Record, atomic_write_json, load_record, metric_entry,
                               read_jsonl, read_record, write_record)
from evalsuite.store import ResultsStore, rebuild_index, reap_interrupted, writer_fields
from evalsuite.task_types import HIGHER, ideal


def good_record(**over) -> dict:
    record = {"schema_version": SCHEMA_VERSION, "run_id": "20260101T000000-m-abc123", "model": "m", "task": "t",
              "task_source": "native", "category": "capability",
              "metrics": {"acc": metric_entry(0.5, HIGHER.to_json(), (0.4, 0.6), "bootstrap-percentile", 10,
                                              range=(0, 1)),
                          "bias": metric_entry(0.1, ideal(0).to_json(), None, "none", 10)},
              "artifacts": {}, "details": {}, "samples_file": "samples.jsonl",
              "manifest": {"model_fingerprint": {"model": "m"}, "task_hash": "a" * 64, "data_hash": "b" * 64,
                           "packages": {"torch": "2"}, "hardware": {}, "seed": 1, "limit": None, "task_options": {},
                           "wall_time_s": 1.5, "tokens_processed": 12}}
    record.update(over)
    return record


def record_path(tmp_path: Path) -> Path:
    path = tmp_path / "results" / "runs" / "20260101T000000-m-abc123" / "t" / "record.json"
    path.parent.mkdir(parents=True)
    return path


def with_metric(**fields) -> dict:
    record = good_record()
    record["metrics"]["acc"].update(fields)
    return record


def text(value) -> str:
    return json.dumps(value, indent=2)


DAMAGED = {
    "truncated JSON": (lambda: text(good_record())[:150], "not valid JSON"),
    "empty file": (lambda: "", "empty"),
    "binary garbage": (lambda: b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8"),
    "NaN value": (lambda: text(with_metric(value=float("nan"))), "NaN"),
    "Infinity in a CI": (lambda: text(with_metric(ci=[0.1, float("inf")])), "metrics.acc.ci[1]"),
    "NaN deep in details": (lambda: text(good_record(details={"x": [1, float("nan")]})), "details.x[1]"),
    "a string": (lambda: text("a record"), "JSON str"),
    "a list": (lambda: text([good_record()]), "JSON list"),
    "metrics is a list": (lambda: text(good_record(metrics=[1])), "metrics: expected object"),
    "metric is a string": (lambda: text(good_record(metrics={"acc": "0.5"})), "metrics.acc: expected object"),
    "value is a string": (lambda: text(with_metric(value="0.5")), "metrics.acc.value: expected number or null"),
    "n is negative": (lambda: text(with_metric(n=-1)), "metrics.acc.n"),
    "unknown direction": (lambda: text(with_metric(direction="up")), "metrics.acc.direction"),
    "ideal without a value": (lambda: text(good_record(metrics={"b": {**metric_entry(
        0.1, ideal(0).to_json(), None, "none", 3), "ideal": None}})), "metrics.b.ideal"),
    "ci low above high": (lambda: text(with_metric(ci=[0.6, 0.4])), "ci low 0.6 is above ci high 0.4"),
    "ci outside the range": (lambda: text(with_metric(ci=[-0.1, 0.6])), "outside the metric's range"),
    "ci of one number": (lambda: text(with_metric(ci=[0.4])), "metrics.acc.ci"),
    "lmeval_stderr is text": (lambda: text(with_metric(lmeval_stderr="N/A")), "metrics.acc.lmeval_stderr"),
    "manifest seed is text": (lambda: text(good_record(manifest={"seed": "one"})), "manifest.seed"),
    "run_id is a number": (lambda: text(good_record(run_id=7)), "run_id: expected string"),
    "foreign JSON file": (lambda: text({"name": "left-pad", "version": "1.3.0"}), "not an evalsuite record"),
    "newer schema": (lambda: text(good_record(schema_version=99)), "newer evalsuite"),
    "schema_version is text": (lambda: text(good_record(schema_version="2")), "not a whole number"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_record_is_a_one_line_error_naming_the_file(tmp_path, case):
    make, fragment = DAMAGED[case]
    path = record_path(tmp_path)
    content = make()
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError) as info:
        read_record(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message
    if case != "newer schema":  # the fix names the results folder's rebuild command
        assert f"evalsuite index rebuild --output-dir {tmp_path / 'results'}" in message


def test_a_folder_or_a_missing_file_in_place_of_a_record(tmp_path):
    path = record_path(tmp_path)
    path.mkdir()
    with pytest.raises(UserError, match="is a folder"):
        read_record(path)
    with pytest.raises(UserError, match="is missing"):
        read_record(path.parent / "nope.json")


def test_a_version_1_record_is_migrated_on_read(tmp_path):
    """Exactly what evalsuite wrote before records were typed: json.dumps with NaN for an undefined CI."""
    v1 = {"schema_version": 1, "run_id": "r1", "model": "m", "task": "t", "task_source": "lm-eval",
          "category": "capability",
          "metrics": {"acc": {"value": 0.5, "direction": "higher", "ideal": None, "ci": [0.4, 0.6],
                              "ci_method": "bootstrap-percentile", "confidence": 0.95, "n": 10},
                      "tiny": {"value": 1.0, "direction": "higher", "ideal": None,
                               "ci": [float("nan"), float("nan")], "ci_method": "bootstrap-percentile",
                               "confidence": 0.95, "n": 1},
                      "word_perplexity": {"value": float("nan"), "direction": "lower", "ideal": None, "ci": None,
                                          "ci_method": "none", "confidence": 0.95, "n": None}},
          "artifacts": {}, "details": {}, "manifest": {"seed": 1, "limit": None, "task_options": {}},
          "samples_file": "samples.jsonl"}
    path = record_path(tmp_path)
    path.write_text(json.dumps(v1, indent=2, sort_keys=True), encoding="utf-8")  # NaN, as v1 wrote it
    assert "NaN" in path.read_text()
    got = read_record(path)
    assert got["schema_version"] == 2
    assert got["metrics"]["acc"] == v1["metrics"]["acc"]
    assert got["metrics"]["tiny"]["ci"] is None and got["metrics"]["tiny"]["value"] == 1.0
    assert got["metrics"]["word_perplexity"]["value"] is None
    assert {k: got[k] for k in ("run_id", "model", "task", "task_source", "manifest")} == \
        {k: v1[k] for k in ("run_id", "model", "task", "task_source", "manifest")}
    typed = load_record(path)
    assert typed.metrics["acc"].ci == (0.4, 0.6) and typed.path == path


def test_writers_never_write_nan_and_refuse_an_invalid_record(tmp_path):
    run_dir = tmp_path / "results" / "runs" / "r"
    body = good_record()
    del body["schema_version"], body["samples_file"]
    body["metrics"]["acc"] = {"value": float("nan"), "direction": "higher", "ideal": None,
                              "ci": (float("nan"), 0.7), "ci_method": "bootstrap-percentile", "confidence": 0.95,
                              "n": 3}  # as lm-eval or a bootstrap over one sample produce
    body["details"] = {"rates": [float("inf"), 0.5]}
    path = write_record(run_dir, "t", body, [{"doc_id": 0, "scores": {"x": float("nan")}}])
    raw = path.read_text()
    assert "NaN" not in raw and "Infinity" not in raw and "NaN" not in (path.parent / "samples.jsonl").read_text()
    got = read_record(path)
    assert got["metrics"]["acc"]["value"] is None and got["metrics"]["acc"]["ci"] is None
    assert got["details"]["rates"] == [None, 0.5]

    bad = good_record()
    bad["metrics"]["acc"]["direction"] = "sideways"
    with pytest.raises(ValueError, match="metrics.acc.direction"):
        write_record(run_dir, "u", bad, [])
    assert not (run_dir / "u").exists()


def test_metric_entry_clips_a_ci_to_the_declared_range_and_records_round_trip(tmp_path):
    m = metric_entry(0.02, HIGHER.to_json(), (-0.03, 0.07), "normal approximation", 50, range=(0, 1))
    assert m["ci"] == [0.0, 0.07] and m["range"] == [0.0, 1.0]
    assert Metric.from_json(m).problems() == []
    # a bootstrap percentile interval may exclude the point estimate: allowed
    assert Metric(0.9, ci=(0.1, 0.5), range=(0, 1)).problems() == []
    assert Metric(1.5, range=(0, 1)).problems() == ["value 1.5 lies outside the metric's range [0, 1]"]
    body = good_record(extra_field={"kept": True})
    body["metrics"]["acc"]["lmeval_stderr"] = 0.05
    path = write_record(tmp_path / "results" / "runs" / "r", "t", body, [])
    record = load_record(path)
    assert isinstance(record, Record) and record.extra == {"extra_field": {"kept": True}}
    assert record.metrics["acc"].extra == {"lmeval_stderr": 0.05}
    assert record.to_json() == {k: v for k, v in read_record(path).items()}
    assert record.samples_path == path.parent / "samples.jsonl"


def test_the_published_schema_agrees_with_jsonschema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from evalsuite import schemas

    for name in ("record", "run"):
        jsonschema.Draft202012Validator.check_schema(schemas.load(name))
    validator = jsonschema.Draft202012Validator(schemas.load("record"))
    assert not list(validator.iter_errors(good_record()))
    for case in ("value is a string", "unknown direction", "ideal without a value", "run_id is a number",
                 "lmeval_stderr is text", "ci of one number"):
        assert list(validator.iter_errors(json.loads(DAMAGED[case][0]()))), case


def test_read_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"samples.jsonl' line 3 is not valid JSON"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2 is a JSON list"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n\n{"a": NaN}\n', encoding="utf-8")
    rows = read_jsonl(path)
    assert rows[0] == {"a": 1} and rows[1]["a"] != rows[1]["a"]  # older writers' NaN reads as NaN


# -- damaged index and cache ------------------------------------------------------------------------------


def _sqlite_with_rows(path: Path, table_sql: str, insert: str, n: int) -> None:
    db = sqlite3.connect(path)
    db.execute(table_sql)
    db.executemany(insert, [(f"key-{i}" * 20, "x" * 500) for i in range(n)])
    db.commit()
    db.close()


def _damage(kind: str, path: Path) -> None:
    if kind == "folder in place":
        path.mkdir()
    elif kind == "garbage bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "text file":
        path.write_text("not a database\n")
    elif kind == "truncated sqlite":
        _sqlite_with_rows(path, "CREATE TABLE answers (model TEXT, request TEXT, result TEXT)",
                          "INSERT INTO answers VALUES (?, 'r', ?)", 200)
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.truncate(size // 3)
    elif kind == "foreign sqlite":
        _sqlite_with_rows(path, "CREATE TABLE notes (title TEXT, body TEXT)", "INSERT INTO notes VALUES (?, ?)", 3)
    elif kind == "corrupted pages":
        _sqlite_with_rows(path, "CREATE TABLE answers (model TEXT, request TEXT, result TEXT)",
                          "INSERT INTO answers VALUES (?, 'r', ?)", 200)
        with path.open("r+b") as fh:  # keep the header page, scribble over the b-tree pages
            fh.seek(4096)
            fh.write(os.urandom(8192))


DAMAGE = ["folder in place", "garbage bytes", "text file", "truncated sqlite", "foreign sqlite", "corrupted pages"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_index_is_a_one_line_error_with_the_rebuild_command(tmp_path, kind):
    path = tmp_path / "index.sqlite"
    _damage(kind, path)
    for open_it in (lambda: ResultsStore(path), lambda: open_store(tmp_path)):
        with pytest.raises(UserError) as info:
            open_it().runs()
        message = str(info.value)
        assert f"results index '{path}'" in message and "\n" not in message
        assert f"evalsuite index rebuild --output-dir {tmp_path}" in message or "move it away" in message


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_cache_is_a_one_line_error_naming_no_cache(tmp_path, kind):
    from evalsuite.requests import Loglikelihood

    path = tmp_path / "cache.sqlite"
    _damage(kind, path)
    with pytest.raises(UserError) as info:
        cache = RequestCache(path)
        cache.lookup({"model": "m"}, [Loglikelihood("a", "b")] * 3)
    message = str(info.value)
    assert f"request cache '{path}'" in message and "--no-cache" in message and "\n" not in message


def test_an_empty_index_file_is_refused_when_reading_and_a_fresh_one_created_when_writing(tmp_path):
    (tmp_path / "index.sqlite").write_bytes(b"")
    with pytest.raises(UserError, match="is empty"):
        open_store(tmp_path)
    ResultsStore(tmp_path / "index.sqlite").close()  # the runner's open: a new index
    assert open_store(tmp_path).runs() == []


# -- run ids, rebuild, reaping ----------------------------------------------------------------------------


def _write_run(results: Path, run_id: str, status: str = "complete", tasks=("t",), **extra) -> dict:
    run_dir = results / "runs" / run_id
    summary = {"schema_version": 2, "run_id": run_id, "model": "m", "fingerprint": {"model": "m", "dtype": "f32"},
               "status": status, "started_at": f"2026-01-01T00:00:{len(run_id) % 60:02d}", "finished_at": None,
               "path": f"runs/{run_id}", "config": {"model": "m", "tasks": list(tasks)}, "tasks": list(tasks),
               "records": {}, **extra}
    atomic_write_json(run_dir / "run.json", summary)
    with ResultsStore(results / "index.sqlite") as store:
        store.upsert_run(summary)
        for task in tasks:
            record = {k: v for k, v in good_record(run_id=run_id, task=task).items()
                      if k not in ("schema_version", "samples_file")}
            path = write_record(run_dir, task, record, [{"doc_id": 0, "scores": {"acc": 1.0}}])
            store.add_record(run_id, task, path, record["metrics"])
            summary["records"][task] = f"runs/{run_id}/{task}/record.json"
    atomic_write_json(run_dir / "run.json", summary)
    return summary


def test_find_run_matches_ids_exactly_and_by_plain_prefix(tmp_path):
    _write_run(tmp_path, "20260101T000000-m-aaaaaa")
    _write_run(tmp_path, "20260101T000000-m-abbbbb")
    with ResultsStore(tmp_path / "index.sqlite") as store:
        for ref in ("_", "%", "2026%", "2026_", "20260101T000000-m-a_aaaa", "", "x"):
            with pytest.raises(UserError, match="no run|ambiguous"):
                store.find_run(ref)
        with pytest.raises(UserError, match="ambiguous"):
            store.find_run("20260101T000000-m-a")
        assert store.find_run("20260101T000000-m-aa")["run_id"] == "20260101T000000-m-aaaaaa"
        assert store.find_run("20260101T000000-m-abbbbb")["run_id"] == "20260101T000000-m-abbbbb"
        assert store.find_run("latest")["run_id"] in {"20260101T000000-m-aaaaaa", "20260101T000000-m-abbbbb"}


def _rows(path: Path) -> dict:
    db = sqlite3.connect(path)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in ("runs", "records",
                                                                                         "metrics")}
    finally:
        db.close()


def test_rebuild_index_recreates_an_equal_index_from_the_files(tmp_path):
    results = tmp_path / "results"
    _write_run(results, "20260101T000000-m-aaaaaa", tasks=("t", "u"))
    _write_run(results, "20260101T000001-m-bbbbbb", status="incomplete")
    (results / "runs" / "stray").mkdir()  # not a run folder: ignored
    (results / "runs" / "stray" / "notes.txt").write_text("hello")
    before = _rows(results / "index.sqlite")
    assert len(before["records"]) == 3 and all(not Path(r[2]).is_absolute() for r in before["records"])

    (results / "index.sqlite").write_bytes(os.urandom(2048))  # damaged beyond use
    with pytest.raises(UserError, match="rebuild"):
        open_store(results)
    assert rebuild_index(results) == 3
    assert _rows(results / "index.sqlite") == before
    assert not [p for p in results.iterdir() if p.name.startswith(".index.sqlite")]
    assert (results / "runs" / "stray" / "notes.txt").is_file()

    (results / "runs" / "20260101T000000-m-aaaaaa" / "u" / "record.json").write_text("{")
    with pytest.raises(UserError, match=r"u/record.json' is not valid JSON"):
        rebuild_index(results)
    assert _rows(results / "index.sqlite") == before  # a failed rebuild leaves the old index in place


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_reap_interrupted_marks_dead_runs_and_removes_only_empty_evalsuite_run_folders(tmp_path):
    host = socket.gethostname()
    dead = _dead_pid()
    with_records = _write_run(tmp_path, "20260101T000000-m-000001", status="running", pid=dead, host=host)
    empty = _write_run(tmp_path, "20260101T000000-m-000002", status="running", tasks=(), pid=dead, host=host)
    alive = _write_run(tmp_path, "20260101T000000-m-000003", status="running", **writer_fields())
    elsewhere = _write_run(tmp_path, "20260101T000000-m-000004", status="running", tasks=(), pid=dead,
                           host=host + "-other")
    legacy = _write_run(tmp_path, "20260101T000000-m-000005", status="running", tasks=())  # no pid/host
    gone = _write_run(tmp_path, "20260101T000000-m-000006", status="running", tasks=(), pid=dead, host=host)
    (tmp_path / "runs" / gone["run_id"] / "run.json").unlink()
    (tmp_path / "runs" / gone["run_id"] / "keep.txt").write_text("not evalsuite's")

    reaped = {r["run_id"]: r["action"] for r in reap_interrupted(tmp_path)}
    assert reaped == {with_records["run_id"]: "interrupted", empty["run_id"]: "removed",
                      gone["run_id"]: "interrupted"}
    with ResultsStore(tmp_path / "index.sqlite") as store:
        status = {r["run_id"]: r["status"] for r in store.runs()}
    assert status == {with_records["run_id"]: "interrupted", alive["run_id"]: "running",
                      elsewhere["run_id"]: "running", legacy["run_id"]: "running", gone["run_id"]: "interrupted"}
    summary = json.loads((tmp_path / "runs" / with_records["run_id"] / "run.json").read_text())
    assert summary["status"] == "interrupted" and summary["records"]
    assert (tmp_path / "runs" / with_records["run_id"] / "t" / "record.json").is_file()
    assert not (tmp_path / "runs" / empty["run_id"]).exists()
    for kept in (elsewhere, legacy):
        assert (tmp_path / "runs" / kept["run_id"] / "run.json").is_file()
    assert (tmp_path / "runs" / gone["run_id"] / "keep.txt").is_file()
    assert reap_interrupted(tmp_path) == []  # idempotent
