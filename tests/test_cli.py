"""The command line: light imports, the plugin entry point, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evalsuite.errors import MissingDependency, require


def evalsuite(*args, cwd=None, env_extra=None):
    env = {**os.environ, "EVALSUITE_QUIET": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "evalsuite", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def assert_user_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("evalsuite: error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def test_help_and_list_import_nothing_heavy():
    code = textwrap.dedent("""
        import sys, contextlib, io
        from evalsuite.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            main(["list"])
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = [m for m in ("torch", "transformers", "lm_eval", "datasets") if m in sys.modules]
        print("HEAVY", heavy, "demo_facts_mc" in out.getvalue())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] True" in proc.stdout, proc.stdout + proc.stderr


def _fake_plugin(root: Path, tiny_lm: Path) -> Path:
    """A third-party package as pip would leave it: a module plus dist-info with entry points.

    It adds a task with typed options, an explainer (occlusion) and a command, each through the
    `evalsuite` entry-point group, exactly as evalsuite's own plugins do.
    """
    pkg = root / "fakeplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        """A fake third-party plugin: one task, one explainer, one command."""
        from typing import Annotated

        from evalsuite import Task, multiple_choice, task
        from evalsuite.options import Option
        from evalsuite.registry import command, explainer

        DOCS = [{"q": "the cat sat on the", "c": [" mat", " violin"], "a": 0},
                {"q": "alice lives in", "c": [" paris", " the"], "a": 0}]

        @task("echo_mc")
        def echo_mc(n: Annotated[int, Option("questions to ask", min=1, max=2)] = 2) -> Task:
            """Two planted questions."""
            return multiple_choice(DOCS[:n], context="q", choices="c", answer="a")

        class Occlusion:
            """Credit of a token = f(x) - f(x with that token set to the baseline token)."""
            name = "occlusion"

            def explain_text(self, objective, example):
                import numpy as np
                import torch
                from evalsuite.audits.explain.attribution import Attribution

                full = torch.tensor([example.ids], device=objective.device)
                base = torch.tensor([objective.baseline_ids(example)], device=objective.device)
                with torch.no_grad():
                    fx = float(objective.forward_ids(full, example)[0])
                    fb = float(objective.forward_ids(base, example)[0])
                    scores = np.zeros(len(example.ids))
                    for p in example.positions:
                        row = full.clone()
                        row[0, p] = base[0, p]
                        scores[p] = fx - float(objective.forward_ids(row, example)[0])
                return Attribution(list(example.tokens), scores, list(example.positions), example.target, fx, fb,
                                   self.name)

        @explainer("occlusion", description="token occlusion (a third-party explainer)")
        def occlusion(**_):
            return Occlusion()

        @command("echo-check", description="run echo_mc on a model (a third-party command)")
        def echo_check(parser):
            parser.add_argument("--model", required=True)
            parser.add_argument("--output-dir", required=True)

            def handler(args):
                from evalsuite.cli import run_and_report
                from evalsuite.config import RunConfig

                return run_and_report(RunConfig(model=args.model, tasks=["fakeplug/echo_mc"],
                                                output_dir=args.output_dir, task_args={"n": 1}, progress=False))
            return handler
    '''))
    dist = root / "fakeplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[evalsuite]\nfakeplug = fakeplug\n")
    return root


def test_third_party_plugin_registers_through_the_entry_point_and_runs(tmp_path, tiny_lm):
    (tmp_path / "site").mkdir()
    site = _fake_plugin(tmp_path / "site", tiny_lm)
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = evalsuite("list", env_extra=env)
    for name in ("fakeplug/echo_mc", "fakeplug/occlusion", "fakeplug/echo-check", "evalsuite/demo_facts_mc"):
        assert name in listed.stdout, listed.stdout
    described = evalsuite("describe", "echo_mc", env_extra=env)
    assert "n (integer, default 2, >= 1, <= 2): questions to ask" in described.stdout, described.stderr

    # the task, with its typed option checked and used
    assert_user_error(evalsuite("run", "--model", tiny_lm, "--tasks", "echo_mc", "--task-args", "n=3",
                                "--output-dir", tmp_path / "bad", env_extra=env), "option n must be <= 2")
    assert not (tmp_path / "bad").exists()
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "echo_mc", "--task-args", "n=1",
                     "--output-dir", tmp_path / "out", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert "fakeplug/echo_mc" in proc.stdout and "acc" in proc.stdout
    (samples,) = (tmp_path / "out").rglob("fakeplug_echo_mc/samples.jsonl")
    assert len(samples.read_text().splitlines()) == 1

    # the explainer, through evalsuite's own explanation task (faithfulness measured on it too)
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "explain_demo_lm", "--task-args",
                     "explainer=fakeplug/occlusion,n=2", "--output-dir", tmp_path / "out", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    (record,) = (tmp_path / "out").rglob("evalsuite_explain_demo_lm/record.json")
    metrics = __import__("json").loads(record.read_text())["metrics"]
    assert "comprehensiveness" in str(metrics) and metrics, metrics
    rows = [__import__("json").loads(x) for x in (record.parent / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and "fakeplug/occlusion" in record.read_text()

    # the command
    proc = evalsuite("echo-check", "--model", tiny_lm, "--output-dir", tmp_path / "cmd", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert "fakeplug/echo_mc" in proc.stdout
    assert list((tmp_path / "cmd").rglob("record.json"))


def test_unknown_task_suggests_close_names(tmp_path, tiny_lm):
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "demo_fact_mc", "--output-dir", tmp_path)
    assert_user_error(proc, "unknown task 'demo_fact_mc'", "evalsuite/demo_facts_mc")
    assert not tmp_path.joinpath("runs").exists()


def test_unknown_model_suggests_close_names(tmp_path):
    proc = evalsuite("run", "--model", "dmeo", "--tasks", "demo_facts_mc", "--output-dir", tmp_path)
    assert_user_error(proc, "unknown model 'dmeo'", "evalsuite/demo")
    assert not list(tmp_path.iterdir())


def test_malformed_yaml_is_one_line(tmp_path, tiny_lm):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "broken.yaml").write_text("task: broken\noutput_type: [multiple_choice\n")
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "broken", "--tasks-path", folder,
                     "--output-dir", tmp_path / "out")
    assert_user_error(proc, "is not valid YAML", "broken.yaml", "line 3")
    assert not (tmp_path / "out").exists()


def test_missing_data_file_of_a_native_task(tmp_path, tiny_lm):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "lost.py").write_text(textwrap.dedent('''
        from evalsuite import Task, load_records, perplexity, task

        @task("lost_ppl")
        def lost_ppl() -> Task:
            return perplexity(load_records("/nonexistent/lost.jsonl"), text="text")
    '''))
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "lost_ppl", "--tasks-path", folder,
                     "--output-dir", tmp_path / "out")
    assert_user_error(proc, "data file '/nonexistent/lost.jsonl' does not exist")
    assert not list((tmp_path / "out").rglob("record.json"))


def test_missing_data_file_of_an_lm_eval_task(tmp_path, tiny_lm):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "gone.yaml").write_text(textwrap.dedent("""
        task: gone_mc
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: /nonexistent/gone.jsonl
        test_split: test
        output_type: multiple_choice
        doc_to_text: "{{q}}"
        doc_to_choice: "{{c}}"
        doc_to_target: a
        metric_list:
          - metric: acc
    """))
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "gone_mc", "--tasks-path", folder,
                     "--output-dir", tmp_path / "out")
    assert_user_error(proc, "gone_mc", "data file not found")
    assert not list((tmp_path / "out").rglob("runs/*"))  # the failed run left no folder behind


def test_missing_optional_dependency_names_the_extra():
    with pytest.raises(MissingDependency, match=r"pip install 'evalsuite\[explain\]'"):
        require("surely_not_installed_module_xyz", "explain")


def test_bad_option_values_are_one_line(tmp_path, tiny_lm):
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "demo_facts_mc", "--limit", "0",
                     "--output-dir", tmp_path)
    assert_user_error(proc, "--limit must be a positive number")
    proc = evalsuite("run", "--model", tiny_lm, "--model-args", "dtype", "--output-dir", tmp_path)
    assert_user_error(proc, "KEY=VALUE")
    proc = evalsuite("show", "nope", "--output-dir", tmp_path / "empty")
    assert_user_error(proc, "no results store")


def test_lm_eval_task_whose_data_is_not_offline_is_one_line(tmp_path, tiny_lm):
    proc = evalsuite("run", "--model", tiny_lm, "--tasks", "arc_easy", "--output-dir", tmp_path,
                     env_extra={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert_user_error(proc, "arc_easy", "not available offline")
    assert not list(tmp_path.rglob("runs/*"))
