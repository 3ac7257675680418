"""A release pipeline end to end: real benchmark, explanation, fairness and privacy records from the
commands a user runs, aggregated by the leaderboard and judged by the gate.

The fairness data has a planted disparity, so the gate's fairness bound must fail on it and name why;
the other rules must pass on the same records.
"""

from __future__ import annotations

import json

import pytest

from evalsuite.cli import main


def _ok(argv, capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _run_id(results, task) -> str:
    [path] = list(results.glob(f"runs/*/{task}/record.json"))
    return json.loads(path.read_text())["run_id"]


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_lm):
    """One results folder holding a record of every category, each from its own command."""
    import joblib

    from evalsuite.audits.synthetic import fit_hiring_model, hiring_data

    root = tmp_path_factory.mktemp("release")
    out = root / "results"
    frame = hiring_data(1200, disparity=0.8, seed=3)
    frame.to_csv(root / "hiring.csv", index=False)
    joblib.dump(fit_hiring_model(frame), root / "screening.joblib")
    texts = root / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"the cat sat on the mat while alice reads map {i}"}) + "\n"
                             for i in range(24)))
    commands = [
        ["run", "--model", "demo", "--tasks", "demo_facts_mc", "--limit", "60"],
        ["run", "--model", "demo", "--tasks", "explain_demo_lm", "--task-args", "n=3,steps=16"],
        ["audit", "--model", f"sklearn:{root / 'screening.joblib'}", "--model-args", "allow_pickle=true",
         "--data", str(root / "hiring.csv"), "--label", "hired", "--protected", "sex", "--privileged", "sex=1",
         "--bootstrap", "200"],
        ["finetune", "--model", str(tiny_lm), "--data", str(texts), "--dp", "--noise-multiplier", "1.0",
         "--delta", "1e-3", "--accountant", "rdp", "--epochs", "1", "--batch-size", "8", "--seq-len", "24",
         "--out", str(root / "dp-checkpoint")],
    ]
    for argv in commands:
        code = main([*argv, "--output-dir", str(out), "--quiet"])
        assert code == 0, argv
    return out


def test_leaderboard_scores_every_category_from_real_records(results, tmp_path, capsys):
    site = tmp_path / "site"
    _ok(["leaderboard", "build", "--results", str(results), "--out", str(site)], capsys)
    board = json.loads((site / "leaderboard.json").read_text())
    scored = {(m["model"], name) for m in board["models"] for name, c in m["categories"].items() if c}
    models = {m["model"] for m in board["models"]}
    assert {"demo", "screening"} <= models
    assert ("demo", "capability") in scored and ("demo", "explainability") in scored
    assert ("screening", "fairness") in scored
    assert any(category == "privacy" for _, category in scored)
    for model in board["models"]:
        assert (site / "models" / f"{model['slug']}.html").is_file()
    demo = next(m for m in board["models"] if m["model"] == "demo")
    facts = next(t for t in demo["tasks"] if t["task"].endswith("demo_facts_mc"))
    acc = next(r for r in facts["metrics"] if r["metric"] == "acc")
    assert acc["score"] == pytest.approx((acc["value"] - 0.25) / 0.75)  # 4-way chance normalised to 0


def test_gate_fails_the_planted_disparity_and_passes_the_rest(results, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "name: release\nrules:\n"
        "  - {name: facts floor, type: threshold, task: demo_facts_mc, metric: acc, min: 0.5}\n"
        "  - {name: parity, type: fairness, task: fairness_audit, metric: statistical_parity_difference,"
        " max_gap: 0.1}\n"
        "  - {name: budget, type: epsilon, max: 1000}\n")
    candidates = [_run_id(results, "evalsuite_demo_facts_mc"), _run_id(results, "evalsuite_fairness_audit"),
                  _run_id(results, "evalsuite_dp_finetune")]
    argv = ["gate", "--policy", str(policy), "--results", str(results), "--junit", str(tmp_path / "gate.xml"),
            "--markdown", str(tmp_path / "gate.md")]
    for run in candidates:
        argv += ["--candidate", run]
    assert main(argv) == 1
    summary = (tmp_path / "gate.md").read_text()
    import xml.etree.ElementTree as ET

    cases = {c.get("name"): c for c in ET.parse(tmp_path / "gate.xml").getroot().iter("testcase")}
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {"parity"}, summary
    assert {"facts floor", "budget"} <= set(cases)
