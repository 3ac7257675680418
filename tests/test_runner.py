"""End-to-end runs: records, the results store, `show`, and resuming a killed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsuite import RunConfig
from evalsuite.cli import main
from evalsuite.records import SCHEMA_VERSION
from evalsuite.runner import run
from evalsuite.store import ResultsStore


def _config(tiny_lm, lmeval_tasks, out, **kw):
    kw.setdefault("tasks", ["toy_mc"])
    return RunConfig(model=str(tiny_lm), tasks_path=[str(lmeval_tasks)], output_dir=str(out), progress=False, **kw)


def test_run_writes_records_manifest_and_store(tiny_lm, lmeval_tasks, tmp_path):
    summary = run(_config(tiny_lm, lmeval_tasks, tmp_path, tasks=["toy_mc", "toy_ppl"]))
    assert summary["status"] == "complete"
    record = json.loads(Path(summary["records"]["toy_mc"]).read_text())
    assert record["schema_version"] == SCHEMA_VERSION
    acc = record["metrics"]["acc"]
    assert acc["direction"] == "higher" and acc["n"] == 12 and acc["ci"][0] <= acc["value"] <= acc["ci"][1]
    manifest = record["manifest"]
    assert len(manifest["model_fingerprint"]["weights_sha256"]) == 64
    assert manifest["model_fingerprint"]["dtype"] == "float32"
    assert manifest["packages"]["torch"] and manifest["packages"]["lm_eval"]
    assert manifest["tokens_processed"] > 0 and manifest["wall_time_s"] > 0
    assert len(manifest["task_hash"]) == 64 and len(manifest["data_hash"]) == 64
    samples = (Path(summary["records"]["toy_mc"]).parent / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 12
    ppl = json.loads(Path(summary["records"]["toy_ppl"]).read_text())["metrics"]["word_perplexity"]
    assert ppl["direction"] == "lower" and ppl["value"] > 1
    store = ResultsStore(tmp_path / "index.sqlite")
    row = store.find_run(summary["run_id"][:20])
    assert row["status"] == "complete" and len(store.records_of(row["run_id"])) == 2
    tmp_files = [p for p in tmp_path.rglob("*.tmp")]
    assert tmp_files == []


def test_show_prints_a_stored_run(tiny_lm, lmeval_tasks, tmp_path, capsys):
    summary = run(_config(tiny_lm, lmeval_tasks, tmp_path))
    capsys.readouterr()
    assert main(["show", summary["run_id"], "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert summary["run_id"] in out and "toy_mc" in out and "acc" in out


def test_killed_run_resumes_without_redoing_finished_work(tiny_lm, lmeval_tasks, tmp_path, monkeypatch):
    from evalsuite.engine.loglikelihood import LoglikelihoodScorer

    fresh = run(_config(tiny_lm, lmeval_tasks, tmp_path / "fresh", token_budget=40))
    expected = json.loads(Path(fresh["records"]["toy_mc"]).read_text())["metrics"]

    original = LoglikelihoodScorer._run
    calls = {"n": 0}

    def dies_after_three_batches(self, groups):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # as if the process were killed mid-way
        return original(self, groups)

    monkeypatch.setattr(LoglikelihoodScorer, "_run", dies_after_three_batches)
    config = _config(tiny_lm, lmeval_tasks, tmp_path / "resume", token_budget=40)
    with pytest.raises(KeyboardInterrupt):
        run(config)
    assert not list((tmp_path / "resume").rglob("record.json"))  # nothing half-written

    scored = []

    def counting(self, groups):
        scored.extend(groups)
        return original(self, groups)

    monkeypatch.setattr(LoglikelihoodScorer, "_run", counting)
    resumed = run(config)
    total_groups = 12  # one context per question
    assert 0 < len(scored) < total_groups  # finished batches came from the cache
    got = json.loads(Path(resumed["records"]["toy_mc"]).read_text())["metrics"]
    assert got["acc"]["value"] == expected["acc"]["value"]

    scored.clear()
    run(config)
    assert scored == []  # a complete run is served entirely from the cache


def test_cache_never_serves_one_models_answers_for_another(tiny_lm, short_lm, lmeval_tasks, tmp_path):
    a = run(_config(tiny_lm, lmeval_tasks, tmp_path))
    b = run(_config(short_lm, lmeval_tasks, tmp_path))
    sa = [json.loads(x)["filtered_resps"] for x in (Path(a["records"]["toy_mc"]).parent / "samples.jsonl").open()]
    sb = [json.loads(x)["filtered_resps"] for x in (Path(b["records"]["toy_mc"]).parent / "samples.jsonl").open()]
    assert sa != sb
    assert a["fingerprint"] != b["fingerprint"]


def test_lm_eval_groups_and_filters_land_in_one_record(tiny_lm, lmeval_tasks, tmp_path):
    summary = run(_config(tiny_lm, lmeval_tasks, tmp_path, tasks=["toy_group", "toy_gen"]))
    group = json.loads(Path(summary["records"]["toy_group"]).read_text())["metrics"]
    assert {"toy_mc/acc", "toy_mc/acc_norm", "toy_ppl/word_perplexity"} <= set(group)
    assert group["toy_ppl/word_perplexity"]["direction"] == "lower"
    gen = json.loads(Path(summary["records"]["toy_gen"]).read_text())["metrics"]
    assert set(gen) == {"exact_match,first_word"}
    samples = [json.loads(x) for x in (Path(summary["records"]["toy_group"]).parent / "samples.jsonl").open()]
    assert {s["task"] for s in samples} == {"toy_mc", "toy_ppl"} and len(samples) == 24


def test_native_tasks_read_local_csv_and_parquet(tmp_path):
    import pandas as pd

    from evalsuite import load_records

    frame = pd.DataFrame({"question": ["a?", "b?"], "label": [0, 1]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        assert load_records(tmp_path / name) == [{"question": "a?", "label": 0}, {"question": "b?", "label": 1}]
