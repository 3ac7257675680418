"""`evalsuite gate`: rules on a real demo run and planted candidates, exit codes, JUnit XML and Markdown."""

from __future__ import annotations

import shutil
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from lb_records import entry, fairness_record, privacy_record, record_spec, write_run
from scipy import stats

from evalsuite.cli import main
from evalsuite.leaderboards.results import load_samples, open_store, select_records


@pytest.fixture
def gate_world(demo_results, tmp_path):
    """The real demo run as baseline, and candidates re-scored on the very same documents."""
    results = tmp_path / "results"
    shutil.copytree(demo_results[0], results)
    store = open_store(results)
    baseline = select_records(store, [demo_results[1]])["evalsuite/demo_facts_mc"]
    store.close()
    rows = load_samples(baseline)
    correct = np.array([r["scores"]["acc"] for r in rows])

    def candidate(new_correct, extra=None):
        samples = [{**r, "scores": {**r["scores"], "acc": float(c)}} for r, c in zip(rows, new_correct)]
        acc = float(np.mean(new_correct))
        spec = record_spec({"acc": entry(acc, "higher", (acc - 0.1, min(1.0, acc + 0.1)), len(rows))},
                           samples=samples)
        return write_run(results, "demo-candidate", {"evalsuite/demo_facts_mc": spec, **(extra or {})})

    return results, demo_results[1], correct, candidate


def write_policy(folder, text):
    path = folder / "policy.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def gate(results, policy, candidate, baseline=None, tmp=None):
    args = ["gate", "--results", results, "--policy", policy, "--candidate", candidate,
            "--junit", tmp / "junit.xml", "--markdown", tmp / "summary.md"]
    if baseline:
        args += ["--baseline", baseline]
    return main([str(a) for a in args])


REGRESSION_POLICY = """
    name: release
    rules:
      - {name: facts floor, type: threshold, task: demo_facts_mc, metric: acc, at_least: 0.3}
      - {name: facts regression, type: regression, task: demo_facts_mc, metric: acc, max_drop: 0}
"""


def test_identical_rescoring_passes_and_planted_regression_fails(gate_world, tmp_path, capsys):
    results, base_run, correct, candidate = gate_world
    policy = write_policy(tmp_path, REGRESSION_POLICY)
    assert gate(results, policy, base_run, base_run, tmp_path) == 0

    # plant a regression: every second correct answer becomes wrong
    planted = correct.copy()
    right = np.flatnonzero(correct == 1)
    planted[right[::2]] = 0
    run = candidate(planted)
    capsys.readouterr()
    assert gate(results, policy, run, base_run, tmp_path) == 1
    out = capsys.readouterr().out
    losses = len(right[::2])
    p = stats.binomtest(losses, losses, 0.5, alternative="greater").pvalue  # the independent oracle
    assert "FAIL  facts regression" in out and f"p = {p:.4g}" in out and "mcnemar-exact" in out

    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"facts floor", "facts regression"}
    assert cases["facts floor"].find("failure") is None
    assert "significant" in cases["facts regression"].find("failure").get("message")
    summary = (tmp_path / "summary.md").read_text()
    assert "FAILED" in summary and "| facts regression | regression | **FAIL** |" in summary


def test_noise_in_rescoring_passes_where_the_point_estimate_dropped(gate_world, tmp_path):
    """Two wrong answers traded for one right one: accuracy went down, but not significantly."""
    results, base_run, correct, candidate = gate_world
    noisy = correct.copy()
    right, wrong = np.flatnonzero(correct == 1), np.flatnonzero(correct == 0)
    noisy[right[:2]] = 0
    noisy[wrong[:1]] = 1
    assert noisy.mean() < correct.mean()
    policy = write_policy(tmp_path, REGRESSION_POLICY)
    assert gate(results, policy, candidate(noisy), base_run, tmp_path) == 0


def test_fairness_bounds_use_the_interval_and_epsilon_ceiling(gate_world, tmp_path, capsys):
    results, base_run, correct, candidate = gate_world
    policy = write_policy(tmp_path, """
        rules:
          - {name: parity, type: fairness, task: fair, metric: statistical_parity_difference, max_gap: 0.1}
          - {name: parity point, type: fairness, task: fair, metric: statistical_parity_difference, max_gap: 0.1,
             use_ci: false}
          - {name: budget, type: epsilon, max: 8}
    """)
    # SPD -0.05 but its CI reaches -0.12: the interval rule fails, the point rule passes
    run = candidate(correct, {"fair": fairness_record(spd=-0.05, spd_ci=(-0.12, 0.02)), "dp": privacy_record(3.0)})
    capsys.readouterr()
    assert gate(results, policy, run, None, tmp_path) == 1
    out = capsys.readouterr().out
    assert "FAIL  parity:" in out and "PASS  parity point" in out and "PASS  budget" in out

    # non-private: no epsilon, so the ceiling fails; a violated empirical bound fails too
    run = candidate(correct, {"fair": fairness_record(spd=0.01, spd_ci=(-0.03, 0.05)),
                              "dp": privacy_record(dp=False)})
    capsys.readouterr()
    assert gate(results, policy, run, None, tmp_path) == 1
    assert "no epsilon (not trained with DP)" in capsys.readouterr().out
    run = candidate(correct, {"fair": fairness_record(spd=0.01, spd_ci=(-0.03, 0.05)),
                              "dp": privacy_record(epsilon=2.0, violated=1.0)})
    capsys.readouterr()
    assert gate(results, policy, run, None, tmp_path) == 1
    assert "violates the DP bound" in capsys.readouterr().out
    # a candidate without any privacy record fails the ceiling with a reason
    capsys.readouterr()
    assert gate(results, write_policy(tmp_path, "rules: [{type: epsilon, max: 8}]"), base_run, None, tmp_path) == 1
    assert "no privacy record" in capsys.readouterr().out
    # a utility-privacy curve is about other checkpoints: it neither satisfies nor fails the ceiling
    curve = record_spec({"points": entry(3.0, "higher", None, 3)}, category="privacy",
                        details={"privacy_utility": [{"epsilon": 1.0, "task": "t", "metric": "acc", "value": 0.5}]})
    budget = write_policy(tmp_path, "rules: [{name: budget, type: epsilon, max: 8}]")
    assert gate(results, budget, candidate(correct, {"curve": curve}), None, tmp_path) == 1
    assert "no privacy record" in capsys.readouterr().out
    assert gate(results, budget, candidate(correct, {"curve": curve, "dp": privacy_record(3.0)}), None, tmp_path) == 0
    assert "PASS  budget" in capsys.readouterr().out


def test_thresholds_follow_the_metric_direction(tmp_path, capsys):
    results = tmp_path / "r"
    run = write_run(results, "m", {"ppl": record_spec({"bits_per_byte": entry(2.5, "lower", (2.3, 2.7))}),
                                   "bias": record_spec({"stereotype_rate": entry(0.56, "ideal", (0.5, 0.62),
                                                                                 ideal_value=0.5)})})
    policy = write_policy(tmp_path, """
        rules:
          - {name: bpb, type: threshold, task: ppl, metric: bits_per_byte, at_least: 2.6}
          - {name: bpb ci, type: threshold, task: ppl, metric: bits_per_byte, at_least: 2.6, use_ci: true}
          - {name: stereo, type: threshold, task: bias, metric: stereotype_rate, at_least: 0.1}
          - {name: stereo ci, type: threshold, task: bias, metric: stereotype_rate, at_least: 0.1, use_ci: true}
          - {name: missing, type: threshold, task: nope, metric: acc, min: 0.1}
    """)
    assert gate(results, policy, run, None, tmp_path) == 1
    verdicts = {line.split(":")[0][6:]: line[:4] for line in capsys.readouterr().out.splitlines()
                if line[:4] in ("PASS", "FAIL")}
    assert verdicts == {"bpb": "PASS", "bpb ci": "FAIL", "stereo": "PASS", "stereo ci": "FAIL", "missing": "FAIL"}


@pytest.mark.parametrize("policy_text,fragment", [
    ("rules: []", "non-empty 'rules'"),
    ("rules: [{type: vibes}]", "type must be one of"),
    ("rules: [{type: threshold, task: t, metric: acc}]", "needs min or max or at_least"),
    ("rules: [{type: regression, task: t, metric: acc, max_drop: 0.1, test: mcnemar}]", "needs max_drop 0"),
    ("rules: [{type: fairness, task: t, metric: m, max_gap: -1, colour: red}]", "unknown key 'colour'"),
    ("rules: [ {", "not valid YAML"),
])
def test_malformed_policy_is_one_line_exit_2_and_writes_nothing(gate_world, tmp_path, capsys, policy_text, fragment):
    results, base_run, _, _ = gate_world
    policy = write_policy(tmp_path, policy_text)
    assert gate(results, policy, base_run, None, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]
    assert not (tmp_path / "junit.xml").exists() and not (tmp_path / "summary.md").exists()


def test_unknown_run_and_missing_baseline_exit_2(gate_world, tmp_path, capsys):
    results, base_run, _, _ = gate_world
    policy = write_policy(tmp_path, REGRESSION_POLICY)
    assert gate(results, policy, "no-such-run", base_run, tmp_path) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
    assert gate(results, policy, base_run, None, tmp_path) == 2
    assert "pass --baseline RUN" in capsys.readouterr().err
    assert gate(tmp_path / "empty", policy, base_run, base_run, tmp_path) == 2
    assert "no results store" in capsys.readouterr().err
    assert not (tmp_path / "junit.xml").exists()


def test_packaged_example_policy_is_valid():
    from evalsuite.leaderboards.policy import PACKAGED_EXAMPLE, load_policy

    policy = load_policy(PACKAGED_EXAMPLE)
    assert {r.type for r in policy.rules} == {"threshold", "regression", "fairness", "epsilon"}


def test_documented_ci_workflow_runs_the_gate():
    from pathlib import Path

    import yaml

    workflow = yaml.safe_load((Path(__file__).parents[2] / "docs" / "ci-gate.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    gate_step = next(s for s in steps if s.get("name") == "Release gate")
    assert "evalsuite gate --policy" in gate_step["run"] and "--junit" in gate_step["run"]
