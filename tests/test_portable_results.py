"""A results folder is portable: moved or copied, it reads its own files from any working directory.

A real `evalsuite.run` on a tiny model writes the folder (a native and an lm-eval task, output
folder given relative to the working directory); the store and the leaderboard helpers then read
it from elsewhere, after a move, from a copy whose record was edited, and with the original gone.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from evalsuite.leaderboards.results import latest_records_by_model, load_samples, open_store, select_records
from evalsuite.records import read_record
from evalsuite.store import ResultsStore, rebuild_index

LIMIT = 6


@pytest.fixture(scope="module")
def real_results(tiny_lm, lmeval_tasks, tmp_path_factory) -> tuple[Path, dict]:
    import os

    import evalsuite

    work = tmp_path_factory.mktemp("work")
    before = os.getcwd()
    os.chdir(work)
    try:
        summary = evalsuite.run(model=str(tiny_lm), tasks=["demo_facts_mc", "toy_mc"], tasks_path=[str(lmeval_tasks)],
                                output_dir="results", limit=LIMIT, bootstrap_resamples=50, progress=False)
    finally:
        os.chdir(before)
    return work / "results", summary


def _index_paths(folder: Path) -> list[str]:
    db = sqlite3.connect(folder / "index.sqlite")
    try:
        return [p for (p,) in db.execute("SELECT path FROM records UNION ALL SELECT path FROM runs")]
    finally:
        db.close()


def _acc_path(folder: Path, run_id: str) -> Path:
    return folder / "runs" / run_id / "evalsuite_demo_facts_mc" / "record.json"


def _rows(path: Path) -> dict:
    db = sqlite3.connect(path)
    try:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in ("runs", "records",
                                                                                         "metrics")}
    finally:
        db.close()


def _check_reads_own_files(folder: Path, run_id: str) -> dict:
    """Every read-side helper returns this folder's records and samples; returns the demo record."""
    store = open_store(folder)
    try:
        assert store.find_run(run_id[:12])["run_id"] == run_id
        files = store.record_files(run_id)
        assert set(files) == {"evalsuite/demo_facts_mc", "toy_mc"}
        assert all(p.is_relative_to(folder) and p.is_file() for p in files.values())
        selected = select_records(store, ["latest"])
        by_model = latest_records_by_model(store)
    finally:
        store.close()
    assert set(selected) == {"evalsuite/demo_facts_mc", "toy_mc"}
    (model,) = by_model
    for record in [*selected.values(), *by_model[model].values()]:
        assert Path(record["_path"]).is_relative_to(folder)
        samples = load_samples(record)
        assert len(samples) == LIMIT
    return selected["evalsuite/demo_facts_mc"]


def test_a_moved_and_a_copied_results_folder_read_their_own_files(real_results, tmp_path, monkeypatch):
    source, summary = real_results
    run_id = summary["run_id"]
    assert summary["status"] == "complete"
    assert _index_paths(source) and not [p for p in _index_paths(source) if Path(p).is_absolute()]

    moved = tmp_path / "moved" / "results"
    shutil.copytree(source, tmp_path / "staging")  # the module fixture stays whole for other tests
    moved.parent.mkdir()
    shutil.move(tmp_path / "staging", moved)
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    edited = _acc_path(copy, run_id)
    record = json.loads(edited.read_text())
    original_acc = record["metrics"]["acc"]["value"]
    record["metrics"]["acc"]["value"] = 0.123456
    edited.write_text(json.dumps(record))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert _check_reads_own_files(moved, run_id)["metrics"]["acc"]["value"] == original_acc
    assert _check_reads_own_files(copy, run_id)["metrics"]["acc"]["value"] == 0.123456

    shutil.rmtree(moved.parent)
    assert _check_reads_own_files(copy, run_id)["metrics"]["acc"]["value"] == 0.123456


def test_an_old_index_with_absolute_paths_reads_the_copy_never_the_original(real_results, tmp_path, monkeypatch):
    """An index written before paths were relative lists the original folder's absolute paths."""
    source, summary = real_results
    run_id = summary["run_id"]
    original = tmp_path / "original"
    shutil.copytree(source, original)
    db = sqlite3.connect(original / "index.sqlite")
    with db:
        db.execute("UPDATE records SET path = ? || '/' || path", (str(original),))
        db.execute("UPDATE runs SET path = ? || '/' || path", (str(original),))
        db.execute("PRAGMA user_version = 0")
    db.close()
    assert all(Path(p).is_absolute() for p in _index_paths(original))
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    record = json.loads(_acc_path(copy, run_id).read_text())
    record["metrics"]["acc"]["value"] = 0.5
    _acc_path(copy, run_id).write_text(json.dumps(record))

    monkeypatch.chdir(tmp_path)
    assert _check_reads_own_files(copy, run_id)["metrics"]["acc"]["value"] == 0.5
    shutil.rmtree(original)
    assert _check_reads_own_files(copy, run_id)["metrics"]["acc"]["value"] == 0.5
    with ResultsStore(copy / "index.sqlite") as store:
        assert store.run_folder(store.find_run("latest")) == copy / "runs" / run_id


def test_rebuild_index_of_a_real_run_equals_what_the_runner_indexed(real_results, tmp_path, monkeypatch):
    source, summary = real_results
    folder = tmp_path / "results"
    shutil.copytree(source, folder)
    before = _rows(folder / "index.sqlite")
    (folder / "index.sqlite").unlink()
    monkeypatch.chdir(tmp_path)
    assert rebuild_index("results") == 2
    assert _rows(folder / "index.sqlite") == before
    for path in (folder / "runs" / summary["run_id"]).glob("*/record.json"):
        assert read_record(path)["schema_version"] == 2
