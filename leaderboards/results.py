"""Read-side helpers over the results store: which records a run, a model or a whole store holds.

Leaderboards and gates read records only, never models. The store indexes
runs and records; the record files (record.json, samples.jsonl) are the
source of truth, so every helper returns the records as read from disk, each
with its own path under the private key "_path". Paths come from the store's
own folder (the index holds them relative to it), so a moved or copied results
folder reads its own files whatever the working directory.
"""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.store import STORE_FILE  # the name evalsuite.runner gives the store inside a results folder

MODEL_PREFIX = "model:"


def open_store(results_dir: str | Path):
    """The results store of a results folder; a one-line error when there is none or it is damaged."""
    from evalsuite.store import ResultsStore

    path = Path(results_dir) / STORE_FILE
    if not path.exists():
        raise UserError(f"no results store at '{path}'; pass --results DIR, the --output-dir of `evalsuite run`")
    return ResultsStore(path, create=False)


def _load(path: str | Path, store=None) -> dict:
    from evalsuite.records import read_record

    if not Path(path).is_file():
        where = store.root if store is not None else "DIR"
        raise UserError(f"record file '{path}' listed in the results store is missing; re-run that evaluation, "
                        f"or rebuild the index: evalsuite index rebuild --output-dir {where}")
    record = read_record(path)
    record["_path"] = str(path)
    return record


def _runs_oldest_first(store) -> list:
    return sorted(store.runs(), key=lambda r: (r["started_at"] or "", r["run_id"]))


def records_of_run(store, run_id: str) -> dict[str, dict]:
    """task -> record for one run."""
    return {task: _load(path, store) for task, path in store.record_files(run_id).items()}


def records_of_model(store, model: str) -> dict[str, dict]:
    """task -> the newest record of each task for one model, across all of its runs."""
    merged: dict[str, dict] = {}
    for run in _runs_oldest_first(store):
        if run["model"] == model:
            merged.update(records_of_run(store, run["run_id"]))
    if not merged:
        known = sorted({r["model"] for r in store.runs()})
        raise UserError(f"no records for model '{model}' in {store.path}; models there: {', '.join(known) or 'none'}")
    return merged


def select_records(store, refs: list[str]) -> dict[str, dict]:
    """Records named by run references: a run id, a unique prefix, 'latest', or 'model:NAME'.

    A release is often several runs (a benchmark run, an audit run, a fine-tuning run); records of
    later references replace earlier ones task by task.
    """
    if not refs:
        raise UserError("no run given; pass a run id, 'latest' or model:NAME")
    merged: dict[str, dict] = {}
    for ref in refs:
        if ref.startswith(MODEL_PREFIX):
            merged.update(records_of_model(store, ref[len(MODEL_PREFIX):]))
        else:
            merged.update(records_of_run(store, store.find_run(ref)["run_id"]))
    return merged


def latest_records_by_model(store) -> dict[str, dict[str, dict]]:
    """model -> task -> its newest record, for every model in the store."""
    by_model: dict[str, dict[str, dict]] = {}
    for run in _runs_oldest_first(store):
        by_model.setdefault(run["model"], {}).update(records_of_run(store, run["run_id"]))
    return {m: recs for m, recs in by_model.items() if recs}


def load_samples(record: dict) -> list[dict]:
    """The per-sample rows written next to a record."""
    from evalsuite.records import read_jsonl

    path = Path(record["_path"]).parent / record.get("samples_file", "samples.jsonl")
    if not path.is_file():
        raise UserError(f"samples file '{path}' is missing; re-run task '{record['task']}'")
    return read_jsonl(path, what="samples file", fix=f"re-run task '{record['task']}'")


def find_task(records: dict[str, dict], name: str) -> dict | None:
    """A record by full task name ('plugin/name') or by short name when exactly one matches."""
    if name in records:
        return records[name]
    matches = [r for task, r in records.items() if task.split("/", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else None
