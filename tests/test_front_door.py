"""One front door: every bad input is one line, exit 2, no traceback, nothing written, the store still readable.

The table below has one row per class of bad input to `evalsuite run` (flags, typed task options,
model options, the output folder). Each row runs the real command line in-process against a results
folder that already holds a real run, and checks that the folder is byte-for-byte unchanged and that
`evalsuite show` still reads it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from evalsuite.cli import main

TYPED_TASK = '''
"""A local task with typed options, for the option tests."""
from pathlib import Path
from typing import Annotated, Literal

from evalsuite import Task, multiple_choice, task
from evalsuite.options import Option

@task("typed_mc")
def typed_mc(label: Annotated[str, Option("a label written into every question")],
             n: Annotated[int, Option("questions to ask", min=1, max=4)] = 2,
             mode: Literal["plain", "shouty"] = "plain",
             shuffle: Annotated[bool, Option("reverse the choices")] = False) -> Task:
    """Up to four planted questions; its options end up in the manifest."""
    docs = [{"q": f"{label} the cat sat on the", "c": [" mat", " violin"], "a": 0}] * n
    if mode == "shouty":
        docs = [{**d, "q": d["q"].upper()} for d in docs]
    if shuffle:
        docs = [{**d, "c": d["c"][::-1], "a": 1} for d in docs]
    return multiple_choice(docs, context="q", choices="c", answer="a")

@task("other_mc")
def other_mc(n: Annotated[int, Option("questions", min=1)] = 1) -> Task:
    """Another task declaring n, for scoped options."""
    return multiple_choice([{"q": "alice lives in", "c": [" paris", " the"], "a": 0}] * n,
                           context="q", choices="c", answer="a")
'''

BOMB_TASK = '''
"""Importing this file leaves a marker: it must only be imported when one of its tasks is asked for."""
from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("imported")

from evalsuite import Task, multiple_choice, task

@task("bomb_mc")
def bomb_mc() -> Task:
    return multiple_choice([{"q": "x", "c": [" a", " b"], "a": 0}], context="q", choices="c", answer="a")
'''


@pytest.fixture(scope="module")
def task_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("typed_tasks")
    (folder / "typed_tasks.py").write_text(textwrap.dedent(TYPED_TASK))
    (folder / "bomb.py").write_text(textwrap.dedent(BOMB_TASK))
    return folder


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_lm, task_folder) -> Path:
    """A results folder holding one real, complete run."""
    out = tmp_path_factory.mktemp("results")
    code = main(["run", "--model", str(tiny_lm), "--tasks", "typed_mc", "--tasks-path", str(task_folder),
                 "--task-args", "label=hello", "--output-dir", str(out), "--quiet"])
    assert code == 0
    assert not (task_folder / "IMPORTED").exists()  # bomb.py was not asked for, so never imported
    return out


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _file(tmp_path: Path) -> str:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return str(path)


# (id, extra args after `run --model TINY`, fragments the one error line must contain)
BAD_RUNS = [
    ("unknown-flag", ["--tasks", "typed_mc", "--limitt", "5"], ["unrecognized arguments: --limitt"]),
    ("limit-not-int", ["--tasks", "typed_mc", "--limit", "1e15"], ["--limit", "invalid int value: '1e15'"]),
    ("limit-zero", ["--tasks", "typed_mc", "--limit", "0"], ["--limit must be a positive number"]),
    ("seed-negative", ["--tasks", "typed_mc", "--seed", "-1"], ["--seed must be between 0 and"]),
    ("max-length-zero", ["--tasks", "typed_mc", "--max-length", "0"], ["--max-length must be"]),
    ("max-length-negative", ["--tasks", "typed_mc", "--max-length", "-5"], ["--max-length must be"]),
    ("token-budget-zero", ["--tasks", "typed_mc", "--token-budget", "0"], ["--token-budget must be"]),
    ("resamples-huge", ["--tasks", "typed_mc", "--bootstrap-resamples", "1000000000000"],
     ["--bootstrap-resamples must be"]),
    ("unknown-task", ["--tasks", "typed_mcc"], ["unknown task 'typed_mcc'", "local/typed_mc"]),
    ("task-twice", ["--tasks", "typed_mc,typed_mc"], ["more than once"]),
    ("option-typo", ["--tasks", "typed_mc", "--task-args", "label=x,shufle=true"],
     ["--task-args shufle: no selected task declares it", "Did you mean 'shuffle'"]),
    ("scoped-typo", ["--tasks", "typed_mc", "--task-args", "label=x,typed_mc:nn=2"],
     ["task 'local/typed_mc' has no option 'nn'", "It accepts: label, n, mode, shuffle"]),
    ("scope-not-selected", ["--tasks", "typed_mc", "--task-args", "label=x,other_mc:n=2"],
     ["'other_mc' is not a selected task"]),
    ("option-wrong-type", ["--tasks", "typed_mc", "--task-args", "label=x,n=two"], ["option n must be a whole number"]),
    ("option-float-for-int", ["--tasks", "typed_mc", "--task-args", "label=x,n=1.5"], ["must be a whole number"]),
    ("option-below-min", ["--tasks", "typed_mc", "--task-args", "label=x,n=0"], ["option n must be >= 1"]),
    ("option-above-max", ["--tasks", "typed_mc", "--task-args", "label=x,n=9"], ["option n must be <= 4"]),
    ("option-bad-bool", ["--tasks", "typed_mc", "--task-args", "label=x,shuffle=maybe"], ["must be true or false"]),
    ("option-bad-choice", ["--tasks", "typed_mc", "--task-args", "label=x,mode=loud"],
     ["must be one of plain, shouty"]),
    ("option-required", ["--tasks", "typed_mc"], ["needs option label"]),
    ("option-not-key-value", ["--tasks", "typed_mc", "--task-args", "label"], ["is not KEY=VALUE"]),
    ("model-arg-unknown", ["--tasks", "typed_mc", "--task-args", "label=x", "--model-args", "tokn_budget=5"],
     ["has no option 'tokn_budget'", "Did you mean 'token_budget'"]),
    ("model-arg-bad-bool", ["--tasks", "typed_mc", "--task-args", "label=x", "--model-args",
                            "trust_remote_code=flase"], ["trust_remote_code must be true or false"]),
    ("model-arg-bad-int", ["--tasks", "typed_mc", "--task-args", "label=x", "--model-args", "max_length=-5"],
     ["max_length must be >= 1"]),
    ("model-arg-not-key-value", ["--tasks", "typed_mc", "--model-args", "dtype"], ["KEY=VALUE"]),
    ("dtype-unknown", ["--tasks", "typed_mc", "--task-args", "label=x", "--dtype", "float8"],
     ["dtype must be one of"]),
    ("device-bogus", ["--tasks", "typed_mc", "--task-args", "label=x", "--device", "bogus"],
     ["--device 'bogus' is not a device"]),
    ("tasks-path-missing", ["--tasks", "typed_mc", "--tasks-path", "/nonexistent/tasks"], ["is not a directory"]),
]


@pytest.mark.parametrize("case", BAD_RUNS, ids=[c[0] for c in BAD_RUNS])
def test_bad_run_input_is_one_clean_line(case, results, tiny_lm, task_folder, capsys):
    _, extra, fragments = case
    before = _snapshot(results)
    code = main(["run", "--model", str(tiny_lm), "--tasks-path", str(task_folder), "--output-dir", str(results),
                 "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalsuite: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert _snapshot(results) == before  # nothing written, nothing changed
    assert main(["show", "latest", "--output-dir", str(results)]) == 0  # the store still reads
    assert not (task_folder / "IMPORTED").exists()


def test_cuda_on_a_machine_without_one_is_one_line(results, tiny_lm, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code = main(["run", "--model", str(tiny_lm), "--tasks", "typed_mc", "--device", "cuda",
                 "--output-dir", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and "no such CUDA device" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["is-file", "under-file"])
def test_output_dir_that_cannot_hold_results(where, tmp_path, tiny_lm, task_folder, capsys):
    target = _file(tmp_path) if where == "is-file" else str(Path(_file(tmp_path)) / "results")
    code = main(["run", "--model", str(tiny_lm), "--tasks", "typed_mc", "--tasks-path", str(task_folder),
                 "--task-args", "label=x", "--output-dir", target])
    err = capsys.readouterr().err
    assert code == 2 and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_every_problem_is_reported_at_once(results, tiny_lm, task_folder, capsys):
    code = main(["run", "--model", str(tiny_lm), "--tasks", "typed_mc,nope_task", "--tasks-path", str(task_folder),
                 "--limit", "0", "--seed", "-3", "--task-args", "n=0", "--model-args", "bogus=1",
                 "--output-dir", str(results)])
    line = capsys.readouterr().err.strip()
    assert code == 2 and len(line.splitlines()) == 1
    for fragment in ("--limit", "--seed", "unknown task 'nope_task'", "option n must be >= 1", "needs option label",
                     "has no option 'bogus'"):
        assert fragment in line, line


def test_usage_error_is_one_line_not_the_usage_block(capsys):
    assert main(["runn"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice: 'runn'" in err


def test_typed_options_reach_the_task_and_the_manifest(results, tiny_lm, task_folder, tmp_path):
    out = tmp_path / "out"
    code = main(["run", "--model", str(tiny_lm), "--tasks", "typed_mc,other_mc", "--tasks-path", str(task_folder),
                 "--task-args", "other_mc:n=3,n=4", "--task-args", "label=hi,shuffle=YES,mode=shouty",
                 "--output-dir", str(out), "--quiet"])
    assert code == 0
    manifests = {json.loads(p.read_text())["task"]: json.loads(p.read_text())["manifest"]["task_options"]
                 for p in out.rglob("record.json")}
    # bare n goes to both tasks that declare it; the scoped one overrides it for other_mc whatever the order
    assert manifests == {"local/typed_mc": {"label": "hi", "n": 4, "mode": "shouty", "shuffle": True},
                         "local/other_mc": {"n": 3}}
    samples = [json.loads(line) for p in out.rglob("samples.jsonl") if "typed_mc" in str(p)
               for line in p.read_text().splitlines()]
    assert len(samples) == 4 and all(s["doc"]["q"].startswith("HI THE CAT") and s["doc"]["a"] == 1 for s in samples)


def test_describe_lists_a_tasks_options(task_folder, capsys):
    assert main(["describe", "typed_mc", "--tasks-path", str(task_folder)]) == 0
    out = capsys.readouterr().out
    assert "label (text, required): a label written into every question" in out
    assert "n (integer, default 2, >= 1, <= 4): questions to ask" in out
    assert "mode (text, default 'plain', one of plain|shouty)" in out


def test_describe_lists_a_model_adapters_options(capsys):
    assert main(["describe", "sklearn"]) == 0
    out = capsys.readouterr().out
    assert "allow_pickle (true/false, default False)" in out and "name" not in out.split("allow_pickle")[1]


def test_python_dash_m_evalsuite_is_the_same_command(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "evalsuite", "list", "commands"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("run", "list", "describe", "show", "index", "audit", "explain", "finetune", "leaderboard", "gate"):
        assert f"evalsuite/{name} " in proc.stdout, proc.stdout


def test_a_native_and_an_lmeval_task_that_slug_alike_keep_their_own_records(tmp_path, tiny_lm, task_folder,
                                                                            lmeval_tasks):
    folder = tmp_path / "yaml_tasks"
    folder.mkdir()
    # lm-eval task "local_typed_mc" and native "local/typed_mc" both slug to "local_typed_mc"
    (folder / "clash.yaml").write_text((lmeval_tasks / "toy_mc.yaml").read_text().replace("task: toy_mc",
                                                                                         "task: local_typed_mc"))
    out = tmp_path / "out"
    assert main(["run", "--model", str(tiny_lm), "--tasks", "typed_mc,local_typed_mc", "--tasks-path", str(task_folder),
                 "--tasks-path", str(folder),
                 "--task-args", "label=x", "--limit", "3", "--output-dir", str(out), "--quiet"]) == 0
    records = {json.loads(p.read_text())["task"]: p.parent.name for p in out.rglob("record.json")}
    assert set(records) == {"local/typed_mc", "local_typed_mc"}
    assert len(set(records.values())) == 2


MC_PY = '''
from evalsuite import Task, load_records, multiple_choice, task

@task("{name}")
def {name}() -> Task:
    return multiple_choice(load_records(__file__.replace("{name}.py", "{data}")), context="q", choices="c", answer="a")
'''
GOOD_ROW = '{"q": "the cat sat on the", "c": [" mat", " violin"], "a": 0}\n'


def _mc_files(name: str, data: str, rows: str) -> dict[str, str]:
    return {f"{name}.py": MC_PY.format(name=name, data=data), data: rows}


def _yaml(extra: str) -> dict[str, str]:
    rows = '{"question": "where", "choices": ["a", "b"], "label": 0}\n'
    return {"rows.jsonl": rows, "bad.yaml": "task: bad_yaml\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
            "    test: rows.jsonl\ntest_split: test\ndoc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\n"
            "doc_to_target: label\n" + extra}


# (id, files of a task folder, task to run, fragments of the one error line)
BAD_TASK_FILES = [
    ("jsonl-malformed", _mc_files("broken_mc", "d.jsonl", GOOD_ROW + '{"q": "x", "c": [\n'), "broken_mc",
     ["d.jsonl' line 2 is not valid JSON"]),
    ("jsonl-empty", _mc_files("empty_mc", "d.jsonl", "\n"), "empty_mc", ["has no samples"]),
    ("jsonl-not-objects", _mc_files("list_mc", "d.jsonl", "[1, 2]\n"), "list_mc", ["line 1 is a JSON list"]),
    ("field-missing", _mc_files("field_mc", "d.jsonl", GOOD_ROW + '{"question": "x", "c": [" a"], "a": 0}\n'),
     "field_mc", ["document 2 (counting from 1) has no field 'q'"]),
    ("yaml-metric-list-text", _yaml("output_type: multiple_choice\nmetric_list: acc\n"), "bad_yaml",
     ["metric_list must be a list of mappings"]),
    ("yaml-output-type-number", _yaml("output_type: 12\nmetric_list:\n  - metric: acc\n"), "bad_yaml",
     ["output_type must be one of"]),
    ("task-file-syntax-error", {"syntax_mc.py": "@task('syntax_mc')\ndef syntax_mc(:\n"}, "syntax_mc",
     ["syntax_mc.py' cannot be read"]),
]


@pytest.mark.parametrize("case", BAD_TASK_FILES, ids=[c[0] for c in BAD_TASK_FILES])
def test_bad_task_files_are_one_clean_line(case, results, tiny_lm, tmp_path, capsys):
    _, files, name, fragments = case
    folder = tmp_path / "tasks"
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(textwrap.dedent(text))
    before = _snapshot(results)
    code = main(["run", "--model", str(tiny_lm), "--tasks", name, "--tasks-path", str(folder),
                 "--output-dir", str(results), "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert _snapshot(results) == before
