"""Bad leaderboard definitions, gate policies and numeric options: one line naming the file (or flag) and the fix,
exit 2, no traceback, nothing written; every problem of a file reported at once.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from lb_records import entry, record_spec, write_run

from evalsuite.cli import main


@pytest.fixture
def results(tmp_path):
    run = write_run(tmp_path / "results", "m", {"qa": record_spec({"acc": entry(0.7, "higher", (0.6, 0.8))})})
    return tmp_path / "results", run


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize("text,fragments", [
    ("categories: {capability: 0, fairness: 0}", ["every category weight is 0", "positive weight"]),
    ("categories: {capability: -1, fairness: 1}", ["categories.capability must not be negative, got -1"]),
    ("categories: {capability: .nan}", ["categories.capability must be a finite number, got nan"]),
    ("categories: {capability: [1]}", ["categories.capability must be a finite number, got [1]"]),
    ("categories: {capabilty: 1}", ["unknown category 'capabilty' (did you mean 'capability'?)"]),
    ("categorys: {capability: 1}", ["unknown key 'categorys' (did you mean 'categories'?)"]),
    ("tasks: {t: {metrics: {acc: {}}, wieght: 2}}", ["tasks.t: unknown key 'wieght' (did you mean 'weight'?)"]),
    ("tasks: {t: {metrics: {acc: {chanse: 4}}}}", ["unknown key 'chanse' (did you mean 'chance'?)"]),
    ("tasks: {t: {metrics: {acc: {weight: 0}}}}", ["tasks.t.metrics.acc.weight must be positive"]),
    ("tasks: {t: {metrics: {acc: {}}, weight: -2}}", ["tasks.t.weight must be positive"]),
    ("tasks: {t: {metrics: {acc: {baseline: 1, best: 1}}}}", ["baseline and best are both 1; they must differ"]),
    ("efficiency: {min_repeat: 2}", ["efficiency: unknown key 'min_repeat' (did you mean 'min_repeats'?)"]),
    ("efficiency: {min_repeats: 0}", ["efficiency.min_repeats must be a whole number from 1 to 1,000,000"]),
    ("efficiency: {worst_joules_per_sample: .inf}", ["efficiency.worst_joules_per_sample must be a finite number"]),
    ("efficiency: fast", ["efficiency must be a mapping"]),
    ("other_records: 'no'", ["other_records must be true or false, got 'no'"]),
    ("title: [a, b]", ["title must be text"]),
    # every problem of the file, in one line
    ("categorys: 1\ncategories: {capability: -1}\ntasks: {t: {metrics: {acc: {weight: x}}}}\nefficiency: {x: 1}",
     ["unknown key 'categorys'", "must not be negative", "acc.weight must be a finite number", "unknown key 'x'"]),
])
def test_bad_definition_is_one_line_and_builds_nothing(results, capsys, text, fragments):
    folder, _ = results
    path = folder.parent / "board.yaml"
    path.write_text(text + "\n")
    out = folder.parent / "site"
    assert main(["leaderboard", "build", "--results", str(folder), "--definition", str(path), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "fix the file" in line
    for fragment in fragments:
        assert fragment in line
    assert not out.exists()


@pytest.mark.parametrize("text,fragments", [
    ("alpah: 0.1\nrules: [{type: epsilon, max: 8}]", ["unknown key 'alpah' (did you mean 'alpha'?)"]),
    ("name: [x]\nrules: [{type: epsilon, max: 8}]", ["name must be text"]),
    ("alpha: 1.5\nrules: [{type: epsilon, max: 8}]", ["alpha must lie in (0, 1), got 1.5"]),
    ("rules: [{type: threshhold, task: t, metric: acc, min: 1}]", ["did you mean 'threshold'?"]),
    ("rules: [{type: threshold, task: t, metric: acc, min: high}]", ["rule 1: min must be a finite number, got 'high'"]),
    ("rules: [{type: threshold, task: t, metric: acc, min: .inf}]", ["min must be a finite number, got inf"]),
    ("rules: [{type: threshold, task: t, metric: acc, min: 0.9, max: 0.1}]", ["min 0.9 exceeds max 0.1"]),
    ("rules: [{type: threshold, task: t, metric: acc, min: 0.5, use_ci: 'yes'}]", ["use_ci must be true or false"]),
    ("rules: [{type: threshold, task: 3, metric: [acc], min: 0.5}]",
     ["needs 'task: NAME' (text), got 3", "needs 'metric: NAME' (text), got ['acc']"]),
    ("rules: [{type: fairness, task: t, metric: m, max_gap: 0.1, mx_gap: 1}]",
     ["unknown key 'mx_gap' (did you mean 'max_gap'?)"]),
    ("rules: [{type: epsilon, max: -1}]", ["max (an epsilon) must not be negative"]),
    ("rules: [{type: energy, max_joules_per_sample: -1}]", ["max_joules_per_sample must not be negative"]),
    ("rules: [{type: energy, max_joule_per_sample: 1}]", ["unknown key 'max_joule_per_sample'",
                                                          "needs max_joules_per_sample"]),
    ("rules: [{type: energy, max_joules_per_sample: 1, require_measured: 'yes'}]",
     ["require_measured must be true or false"]),
    ("rules: [{type: subgroup, max_drop: 0.1}]", ["needs 'task: NAME'"]),
    ("rules: [{type: subgroup, task: t, max_drop: 0.1, alpha: 2}]", ["alpha must lie in (0, 1)"]),
    ("rules: [{type: regression, task: t, metric: acc, max_drop: 0, resamples: 1.0e+12}]",
     ["resamples must be a whole number from 100 to 1,000,000, got 1000000000000.0"]),
    ("rules: [{type: regression, task: t, metric: acc, max_drop: 0, resamples: 50}]",
     ["resamples must be a whole number from 100 to 1,000,000, got 50"]),
    ("rules: [{type: regression, task: t, metric: acc, max_drop: 0, alpha: 0}]", ["alpha must lie in (0, 1)"]),
    ("rules: [{type: regression, task: t, metric: acc, max_drop: 0, field: 7}]", ["field must be a per-sample"]),
    ("rules: [{type: epsilon, max: 8, name: 5}]", ["name must be non-empty text, got 5"]),
    ("rules: [7]", ["rule 1: must be a mapping with a 'type', got 7"]),
    # every problem of the file, in one line
    ("alpah: 1\nrules: [{type: threshold, task: t, metric: acc, min: x}, {type: epsilon, max: 8, colour: 1}]",
     ["unknown key 'alpah'", "rule 1: min must be a finite number", "rule 2 (epsilon): unknown key 'colour'"]),
])
def test_bad_policy_is_one_line_and_writes_nothing(results, capsys, text, fragments):
    folder, run = results
    policy = folder.parent / "policy.yaml"
    policy.write_text(text + "\n")
    junit, md = folder.parent / "gate.xml", folder.parent / "gate.md"
    assert main(["gate", "--results", str(folder), "--policy", str(policy), "--candidate", run, "--baseline", run,
                 "--junit", str(junit), "--markdown", str(md)]) == 2
    line = one_error_line(capsys)
    assert str(policy) in line and "fix the file" in line
    for fragment in fragments:
        assert fragment in line
    assert not junit.exists() and not md.exists()


GOOD_POLICY = "rules: [{name: floor, type: threshold, task: qa, metric: acc, min: 0.5}]\n"


@pytest.mark.parametrize("flags,fragment", [
    (["--resamples", "1e12"], "--resamples must be a whole number from 100 to 1,000,000, got '1e12'"),
    (["--resamples", "1000000000000"], "--resamples must be from 100 to 1,000,000, got 1,000,000,000,000"),
    (["--resamples", "0"], "--resamples must be from 100 to 1,000,000, got 0"),
    (["--resamples", "-5"], "--resamples must be from 100 to 1,000,000, got -5"),
    (["--resamples", "lots"], "--resamples must be a whole number"),
    (["--seed", "-1"], "--seed must be from 0 to 4,294,967,295, got -1"),
    (["--seed", str(2 ** 40)], "--seed must be from 0 to 4,294,967,295"),
    (["--seed", "1.5"], "--seed must be a whole number"),
])
def test_out_of_range_numeric_options_are_one_line(results, capsys, flags, fragment):
    folder, run = results
    policy = folder.parent / "policy.yaml"
    policy.write_text(GOOD_POLICY)
    junit = folder.parent / "gate.xml"
    assert main(["gate", "--results", str(folder), "--policy", str(policy), "--candidate", run,
                 "--junit", str(junit), "--markdown", str(folder.parent / "gate.md"), *flags]) == 2
    assert fragment in one_error_line(capsys)
    assert not junit.exists()


def test_huge_resamples_in_a_real_process_is_one_line_and_no_traceback(results):
    folder, run = results
    policy = folder.parent / "policy.yaml"
    policy.write_text(GOOD_POLICY)
    junit = folder.parent / "gate.xml"
    proc = subprocess.run([sys.executable, "-m", "evalsuite", "gate", "--results", str(folder), "--policy",
                           str(policy), "--candidate", run, "--junit", str(junit), "--resamples", "1e12"],
                          capture_output=True, text=True, timeout=120, cwd=folder.parent)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "evalsuite: error: argument --resamples: --resamples must be a whole number from 100 to 1,000,000, got "
        "'1e12' (see: evalsuite gate --help)"]
    assert not junit.exists() and not (folder.parent / "evalsuite-gate.md").exists()


def test_resamples_option_reaches_the_paired_bootstrap(results, capsys):
    folder, _ = results
    from lb_records import mc_samples

    spec = record_spec({"acc": entry(0.7, "higher", (0.6, 0.8), 20)}, samples=mc_samples([1] * 14 + [0] * 6))
    base = write_run(folder, "m", {"qa": spec})
    cand = write_run(folder, "m", {"qa": spec})
    policy = folder.parent / "policy.yaml"
    policy.write_text(textwrap.dedent("""
        rules:
          - {name: margin, type: regression, task: qa, metric: acc, max_drop: 0.05, test: bootstrap}
          - {name: own, type: regression, task: qa, metric: acc, max_drop: 0.05, test: bootstrap, resamples: 300}
    """))
    assert main(["gate", "--results", str(folder), "--policy", str(policy), "--candidate", cand, "--baseline", base,
                 "--junit", str(folder.parent / "j.xml"), "--markdown", str(folder.parent / "m.md"),
                 "--resamples", "2500"]) == 0
    out = capsys.readouterr().out
    assert "[2500 paired resamples of 20 pairs]" in out and "[300 paired resamples of 20 pairs]" in out


def test_report_paths_are_checked_before_anything_is_written(results, capsys):
    folder, run = results
    policy = folder.parent / "policy.yaml"
    policy.write_text(GOOD_POLICY)
    (folder.parent / "adir").mkdir()
    md = folder.parent / "gate.md"
    assert main(["gate", "--results", str(folder), "--policy", str(policy), "--candidate", run,
                 "--junit", str(folder.parent / "adir"), "--markdown", str(md)]) == 2
    assert "--junit" in one_error_line(capsys) and not md.exists()
