"""Faults against the real server: killed mid-run and restarted, a storm of 429s, the CLI's one line.

Runs go through the whole front door (`evalsuite.run` and the CLI: plan, self-check,
engine, request cache, records) on an lm-eval YAML task of 8 documents x 4 choices.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from served_helpers import API_KEY, BOS_MODEL, FaultProxy, Server, free_port, lmeval_pair_folder, served_args

from evalsuite.config import RunConfig
from evalsuite.errors import UserError
from evalsuite.runner import CACHE_FILE, run

TASK = "served_mc"
N_REQUESTS = 8 * 4


@pytest.fixture(scope="module")
def tasks_folder(tmp_path_factory):
    return lmeval_pair_folder(tmp_path_factory.mktemp("served_tasks"))


def _config(url, hf, tasks_folder, out, **more):
    args = served_args(hf, **{"max_retries": 1, "concurrency": 4, **more})
    args.pop("progress")
    return RunConfig(model=f"openai-completions:{url}", tasks=[TASK], tasks_path=[str(tasks_folder)],
                     output_dir=str(out), model_args=args, bootstrap_resamples=50, progress=False)


def _loglikelihoods(summary) -> dict:
    """doc_id -> the four choices' loglikelihoods, from the record's samples.jsonl."""
    path = Path(summary["records"][TASK]).parent / "samples.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["doc_id"]: [r[0][0] for r in row["resps"]] for row in rows}


def _same_answers(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and len(a) == 8
    for doc_id in a:  # 1e-3: llama.cpp's prompt cache may reuse a prefix's KV, changing float rounding only
        assert a[doc_id] == pytest.approx(b[doc_id], abs=1e-3)


def _cached(out) -> int:
    with sqlite3.connect(out / CACHE_FILE) as db:
        return db.execute("SELECT count(*) FROM answers").fetchone()[0]


def _task_prompts(proxy) -> Counter:
    return Counter(p for p in proxy.completions if isinstance(p, str) and p.startswith("Q: "))


def test_a_server_killed_mid_run_resumes_from_the_cache(served_weights, tmp_path, tasks_folder, api_key_env):
    hf, gguf = served_weights[0], served_weights[1][BOS_MODEL]
    port = free_port()
    server = Server({BOS_MODEL: gguf}, tmp_path, port=port, api_key=API_KEY).start()
    proxy = FaultProxy(server.url)
    try:
        proxy.after_completion = lambda n: len(_task_prompts(proxy)) >= 10 and server.stop()
        out = tmp_path / "results"
        with pytest.raises(UserError, match="did not answer"):
            run(_config(proxy.url, hf, tasks_folder, out))
        done_before = _cached(out)
        assert 10 <= done_before < N_REQUESTS  # what was answered before the kill is kept

        proxy.after_completion, proxy.completions = None, []
        server = Server({BOS_MODEL: gguf}, tmp_path, port=port, api_key=API_KEY).start()
        resumed = run(_config(proxy.url, hf, tasks_folder, out))
        asked_again = _task_prompts(proxy)
        assert sum(asked_again.values()) == N_REQUESTS - done_before  # only the rest went to the server
        assert _cached(out) == N_REQUESTS

        fresh = run(_config(proxy.url, hf, tasks_folder, tmp_path / "fresh"))  # uninterrupted, no cache
        _same_answers(_loglikelihoods(resumed), _loglikelihoods(fresh))
        assert resumed["status"] == "complete"
    finally:
        proxy.close()
        server.stop()


def test_a_storm_of_429s_is_retried_nothing_lost_or_duplicated(llama_server, served_weights, tmp_path,
                                                              tasks_folder, api_key_env):
    hf = served_weights[0]
    proxy = FaultProxy(llama_server.url)
    try:
        proxy.storm = 3  # every third request is answered 429
        stormy = run(_config(proxy.url, hf, tasks_folder, tmp_path / "storm", max_retries=6))
        assert proxy.rejected >= N_REQUESTS // 3
        asked = _task_prompts(proxy)
        assert len(asked) == N_REQUESTS and set(asked.values()) == {1}  # each prompt answered exactly once
        assert _cached(tmp_path / "storm") == N_REQUESTS
        proxy.storm, proxy.completions = 0, []
        calm = run(_config(proxy.url, hf, tasks_folder, tmp_path / "calm"))
        _same_answers(_loglikelihoods(stormy), _loglikelihoods(calm))
    finally:
        proxy.close()


def _cli(args, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "EVALSUITE_TEST_API_KEY"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "evalsuite", "run", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _model_args(hf, **more) -> str:
    args = served_args(hf, **more)
    args.pop("progress")
    return ",".join(f"{k}={v}" for k, v in args.items())


def test_cli_run_records_the_choice_and_never_the_key(llama_server, served_weights, tmp_path, tasks_folder):
    hf, out = served_weights[0], tmp_path / "cli"
    done = _cli(["--model", f"openai-completions:{llama_server.url}", "--model-args",
                 _model_args(hf, skip_self_check="true"), "--tasks", TASK, "--tasks-path", str(tasks_folder),
                 "--output-dir", str(out), "--bootstrap-resamples", "20", "--quiet"],
                {"EVALSUITE_TEST_API_KEY": API_KEY})
    assert done.returncode == 0, done.stderr[-2000:]
    run_json = json.loads(next(out.glob("runs/*/run.json")).read_text())
    options = run_json["model_spec"]["options"]
    assert options["skip_self_check"] is True and options["api_key_env"] == "EVALSUITE_TEST_API_KEY"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path
    assert API_KEY not in done.stdout + done.stderr


def test_cli_refuses_an_untrustworthy_server_with_one_line_and_exit_2(llama_server, served_weights, tmp_path,
                                                                     tasks_folder):
    proxy = FaultProxy(llama_server.url)
    try:
        proxy.mode = "garbage"
        done = _cli(["--model", f"openai-completions:{proxy.url}", "--model-args",
                     _model_args(served_weights[0], max_retries=0), "--tasks", TASK, "--tasks-path",
                     str(tasks_folder), "--output-dir", str(tmp_path / "bad")], {"EVALSUITE_TEST_API_KEY": API_KEY})
    finally:
        proxy.close()
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not JSON" in lines[0] and "Traceback" not in done.stderr
