"""The pytest plugin, run the way a release pipeline runs it: `pytest -p evalsuite.leaderboards.pytest_plugin`.

Each run is a real pytest subprocess in a scratch folder (pytester would need `pytest_plugins` in the top-level
conftest, which this folder does not own); outcomes are read from pytest's own JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from lb_records import entry, fairness_record, mc_samples, privacy_record, record_spec, write_run


@pytest.fixture(scope="module")
def gate_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("gate_results")
    base = write_run(results, "m", {"qa": record_spec({"acc": entry(0.8, "higher", (0.72, 0.88), 100)},
                                                      samples=mc_samples([1] * 80 + [0] * 20))})
    cand = write_run(results, "m", {"qa": record_spec({"acc": entry(0.8, "higher", (0.72, 0.88), 100)},
                                                      samples=mc_samples([1] * 80 + [0] * 20)),
                                    "fair": fairness_record(spd=-0.02, spd_ci=(-0.06, 0.03), di=0.97,
                                                            di_ci=(0.92, 1.03)),
                                    "dp": privacy_record(epsilon=9.5)})
    policy = results / "policy.yaml"
    policy.write_text(textwrap.dedent("""
        name: release
        rules:
          - {name: qa floor, type: threshold, task: qa, metric: acc, min: 0.7, use_ci: true}
          - {name: qa regression, type: regression, task: qa, metric: acc, max_drop: 0}
          - {name: parity, type: fairness, task: fair, metric: "*", max_gap: 0.1}
          - {name: budget, type: epsilon, max: 8}
    """))
    return results, policy, base, cand


def run_pytest(folder, *args):
    junit = folder / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "evalsuite.leaderboards.pytest_plugin",
                           "-p", "no:cacheprovider", f"--junitxml={junit}", "-q", *map(str, args)],
                          cwd=folder, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    cases = {}
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            cases[case.get("name")] = ("failed" if failed else "passed",
                                       "".join((c.get("message") or "") for c in case))
    return proc, cases


def test_policy_rules_become_test_items_with_reasons(gate_results, tmp_path):
    results, policy, base, cand = gate_results
    proc, cases = run_pytest(tmp_path, "--evalsuite-policy", policy, "--evalsuite-results", results,
                             "--evalsuite-candidate", cand, "--evalsuite-baseline", base)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert {k: v[0] for k, v in cases.items()} == {"qa floor": "passed", "qa regression": "passed",
                                                   "parity": "passed", "budget": "failed"}
    assert "epsilon 9.5" in cases["budget"][1] and "> 8" in cases["budget"][1]
    assert "epsilon rule 'budget' failed" in proc.stdout


def test_fixture_and_marker_in_users_own_tests(gate_results, tmp_path):
    results, policy, base, cand = gate_results
    (tmp_path / "test_release.py").write_text(textwrap.dedent("""
        import pytest

        def test_report(evalsuite_gate):
            assert [r.name for r in evalsuite_gate.results] == ["qa floor", "qa regression", "parity", "budget"]
            assert not evalsuite_gate.passed

        @pytest.mark.evalsuite_gate(rule="parity")
        def test_parity(evalsuite_rule):
            assert evalsuite_rule.passed, evalsuite_rule.reason

        @pytest.mark.evalsuite_gate(rule="budget")
        def test_budget(evalsuite_rule):
            assert evalsuite_rule.passed, evalsuite_rule.reason
    """))
    proc, cases = run_pytest(tmp_path, "test_release.py", "--evalsuite-policy", policy, "--evalsuite-results",
                             results, "--evalsuite-candidate", cand, "--evalsuite-baseline", base)
    assert cases["test_report"][0] == "passed" and cases["test_parity"][0] == "passed"
    assert cases["test_budget"][0] == "failed" and "epsilon 9.5" in cases["test_budget"][1]


def test_inert_without_options_and_clear_when_misused(gate_results, tmp_path):
    results, policy, base, cand = gate_results
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    pass\n\n"
                                            "def test_wants_gate(evalsuite_gate):\n    pass\n")
    proc, cases = run_pytest(tmp_path, "test_plain.py")
    assert cases["test_ok"][0] == "passed" and len(cases) == 2  # no rule items collected
    assert "needs --evalsuite-policy" in proc.stdout
    # a regression policy without a baseline, and an unknown run, fail with one line each
    proc, cases = run_pytest(tmp_path, "test_plain.py", "--evalsuite-policy", policy, "--evalsuite-results", results,
                             "--evalsuite-candidate", cand)
    assert "pass --evalsuite-baseline RUN" in proc.stdout and "Traceback" not in proc.stdout
    proc, _ = run_pytest(tmp_path, "test_plain.py", "--evalsuite-policy", policy, "--evalsuite-results", results,
                         "--evalsuite-candidate", "no-such-run", "--evalsuite-baseline", base)
    assert "no run 'no-such-run'" in proc.stdout


def test_out_of_range_seed_is_one_clear_line(gate_results, tmp_path):
    results, policy, base, cand = gate_results
    proc, cases = run_pytest(tmp_path, "--evalsuite-policy", policy, "--evalsuite-results", results,
                             "--evalsuite-candidate", cand, "--evalsuite-baseline", base, "--evalsuite-seed", "-1")
    assert proc.returncode == 1 and "--evalsuite-seed must be from 0 to 4,294,967,295, got -1" in proc.stdout
    assert "Traceback" not in proc.stdout and set(v[0] for v in cases.values()) == {"failed"}
