"""Clean output: a quiet run prints errors only, a default run no warning walls, and the results
table formats numbers for their scale and escapes names."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from evalsuite import progress
from evalsuite.display import fmt_number, results_table

# What may never reach stderr, quiet or not: warning walls and lm-eval's git lookup.
NOISE = ("Warning", "warning", "fatal:", "Writing model shards", "past_key_values", "Traceback", "deprecated")


def _cli(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "EVALSUITE_QUIET"}  # --quiet alone must do it
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "evalsuite", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, lmeval_tasks):
    """The same run (native demo tasks and an lm-eval task) quiet and not, from a folder outside any git repo."""
    cwd = tmp_path_factory.mktemp("not_a_repo")
    args = ["run", "--model", "demo", "--tasks", "demo_facts_mc,demo_facts_gen,toy_mc", "--tasks-path",
            str(lmeval_tasks), "--limit", "5", "--no-cache"]
    quiet = _cli([*args, "--quiet", "--output-dir", str(cwd / "quiet")], cwd)
    loud = _cli([*args, "--output-dir", str(cwd / "loud")], cwd)
    return quiet, loud


def test_a_quiet_run_prints_nothing_but_its_results(runs):
    quiet, _ = runs
    assert quiet.returncode == 0, quiet.stderr
    # The contract: with --quiet, stderr carries errors only, and this run has none. (If this fails with
    # progress lines or library noise, check the runner enters evalsuite.progress.output(quiet) for the run.)
    assert quiet.stderr.strip() == "", quiet.stderr
    assert "evalsuite/demo_facts_mc" in quiet.stdout and "toy_mc" in quiet.stdout and "95% CI" in quiet.stdout


def test_a_default_run_prints_progress_lines_but_no_warning_walls(runs):
    _, loud = runs
    assert loud.returncode == 0, loud.stderr
    for noise in NOISE:
        assert noise not in loud.stderr, loud.stderr
    assert "%|" not in loud.stderr and "it/s]" not in loud.stderr  # no bar (anyone's) when stderr is no terminal
    assert "[evalsuite] toy_mc ..." in loud.stderr  # progress lines do show


def test_a_quiet_python_run_leaves_no_trace_on_stderr_and_restores_the_process(tiny_lm, lmeval_tasks, tmp_path,
                                                                              capfd, monkeypatch):
    import tqdm.std

    import evalsuite

    before = (logging.getLogger().level, logging.getLogger("transformers").level,
              logging.getLogger("lm_eval").level, list(warnings.filters), tqdm.std.tqdm.__dict__["__init__"],
              os.environ.get("TRANSFORMERS_VERBOSITY"))
    monkeypatch.chdir(tmp_path)  # not a git repository: lm-eval's git lookup would complain here
    summary = evalsuite.run(model=str(tiny_lm), tasks=["toy_mc"], tasks_path=[str(lmeval_tasks)],
                            output_dir=str(tmp_path / "out"), limit=4, progress=False)
    assert summary["status"] == "complete"
    assert capfd.readouterr().err == ""
    after = (logging.getLogger().level, logging.getLogger("transformers").level,
             logging.getLogger("lm_eval").level, list(warnings.filters), tqdm.std.tqdm.__dict__["__init__"],
             os.environ.get("TRANSFORMERS_VERBOSITY"))
    assert after == before


# -- evalsuite.progress ------------------------------------------------------------------------


@pytest.fixture
def progress_on(monkeypatch):
    monkeypatch.delenv("EVALSUITE_QUIET", raising=False)  # the suite runs quiet by default (conftest)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_writes_between_bars_and_nothing_when_quiet(progress_on, capsys):
    with progress.output(quiet=False):
        assert progress.enabled()
        progress.log("scoring task a")
    assert capsys.readouterr().err == "scoring task a\n"
    with progress.output(quiet=True):
        assert not progress.enabled()
        progress.log("scoring task b")
    assert capsys.readouterr().err == ""


def test_quiet_silences_every_tqdm_bar_and_library_logging_then_restores(progress_on, monkeypatch):
    from tqdm import tqdm
    from tqdm.auto import tqdm as auto_tqdm

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    level = logging.getLogger("opacus").level
    with warnings.catch_warnings(record=True) as seen, progress.output(quiet=True):
        third_party = [tqdm(range(3)), auto_tqdm(range(3), desc="Building contexts"),
                       tqdm(range(3), None, None, True, None, None, 0.1, 10.0, None, None, False)]
        assert all(b.disable for b in third_party)
        assert progress.bar(range(3)).disable
        assert logging.getLogger("opacus").getEffectiveLevel() == logging.ERROR
        warnings.warn("Secure RNG turned off", UserWarning)  # ignored while quiet
    assert logging.getLogger("opacus").level == level
    assert not tqdm(range(3), file=terminal).disable  # restored
    with progress.output(quiet=False):
        assert not progress.bar(range(3)).disable  # on a terminal, with progress on, bars show
        assert progress.bar(range(3), show=False).disable
    assert seen == []


def test_save_pretrained_shows_no_shard_bar_even_with_progress_on(progress_on, monkeypatch, tiny_lm, tmp_path):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    # transformers' own global switch, which other code in the session may have turned off: this test is
    # about evalsuite's rules on top of it, so it starts from "bars on" and puts the switch back after.
    monkeypatch.setattr(hf_logging, "_tqdm_active", True)
    hook = hf_logging._tqdm_hook
    with progress.output(quiet=False):
        progress.attach("transformers")
        assert hf_logging.tqdm(range(2), desc="Writing model shards").disable
        assert not hf_logging.tqdm(range(2), desc="Loading weights").disable
        model.save_pretrained(tmp_path / "copy")
    assert "Writing model shards" not in terminal.getvalue()
    assert hf_logging._tqdm_hook is hook  # the run's hook is removed on exit


def test_lmeval_git_lookup_is_silent_outside_a_repository_and_restored(monkeypatch, tmp_path, capfd):
    from lm_eval import evaluator
    from lm_eval.loggers import utils as lm_utils

    original = evaluator.get_git_commit_hash
    monkeypatch.chdir(tmp_path)
    with progress.output(quiet=False):
        progress.attach("lm_eval")
        assert evaluator.get_git_commit_hash() is None
    assert capfd.readouterr().err == ""
    assert evaluator.get_git_commit_hash is original and lm_utils.get_git_commit_hash is original


# -- the results table -------------------------------------------------------------------------


@pytest.mark.parametrize("value, text", [(1e-05, "1e-05"), (0.935, "0.9350"), (2.3941, "2.394"), (12345, "12,345"),
                                         (12345.4, "12,345"), (1.0, "1.000"), (0.0, "0"), (-0.0123456, "-0.01235"),
                                         (None, "-"), (float("nan"), "nan"), (3, "3")])
def test_numbers_keep_significant_digits_for_their_scale(value, text):
    assert fmt_number(value) == text


def _record(task, metrics, **extra):
    return {"task": task, "metrics": metrics, **extra}


def _metric(value, ci=None, n=100, direction="higher"):
    return {"value": value, "ci": ci, "n": n, "direction": direction}


def test_one_row_per_task_by_default_and_every_metric_when_wide():
    records = [_record("evil\x1b[2Jtask", {"acc": _metric(0.935, [0.9, 0.96]), "acc_norm": _metric(0.5)}),
               _record("ppl", {"bits": _metric(2.3941, direction="lower"), "word_perplexity": _metric(12345.0)},
                       headline="word_perplexity"),
               _record("bias", {"stereotype\nrate": _metric(1e-05, n=12345, direction="ideal") | {"ideal": 0.5}})]
    table = results_table(records)
    lines = table.splitlines()
    assert len(lines) == 2 + 3 + 1  # header, rule, one row per task, the note about hidden metrics
    assert "\x1b" not in table and "evil\\x1b[2Jtask" in table and "stereotype\\nrate" in table
    assert "0.9350" in lines[2] and "[0.9000, 0.9600]" in lines[2] and "acc_norm" not in table
    assert "word_perplexity" in lines[3] and "12,345" in lines[3]
    assert "1e-05" in lines[4] and "ideal 0.5" in lines[4] and "12,345" in lines[4]
    assert "2 more metrics" in lines[5] and "--wide" in lines[5]
    wide = results_table(records, wide=True).splitlines()
    assert len(wide) == 2 + 5 and "acc_norm" in wide[3] and "2.394" in wide[4]


def test_lmeval_first_imported_inside_a_run_gets_its_own_git_lookup_back():
    """lm-eval's evaluator binds get_git_commit_hash by name when first imported: the stand-in must not stick."""
    import subprocess

    code = textwrap.dedent("""
        import sys
        from evalsuite import progress
        assert "lm_eval.evaluator" not in sys.modules
        with progress.output(quiet=False):
            progress.attach("lm_eval")
        from lm_eval import evaluator
        from lm_eval.loggers import utils
        print(evaluator.get_git_commit_hash is utils.get_git_commit_hash,
              evaluator.get_git_commit_hash.__name__)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["True", "get_git_commit_hash"], proc.stdout + proc.stderr
