"""`evalsuite compare`: a planted subgroup that pruning hurts is flagged (and only it); the demo model's
report, charts and per-variant records; energy labelled on every record."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from evalsuite.cli import main
from evalsuite.records import read_record


def _planted_classifier(tmp_path):
    """Group A's decisions rest on one small weight (0.05 on a feature scaled x100); group B's on a large one.

    Ten weights: 4.0 for B's feature, 0.05 for A's, 1..3 for eight features that are zero in every row.
    Pruning 30% removes the three smallest: A's weight among them, B's never; the zero features change nothing.
    """
    layer = torch.nn.Linear(10, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[4.0, 0.05, 1.0, 1.2, 1.4, 1.6, 2.0, 2.4, 2.8, 3.0]]))
        layer.bias.fill_(-0.5)
    path = tmp_path / "planted.pt"
    torch.jit.save(torch.jit.script(layer), str(path))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        group = "A" if i % 2 else "B"
        signal = rng.uniform(-1, 1)
        f = [0.0] * 10
        if group == "A":
            f[1] = 100 * signal  # 0.05 * 100 * signal - 0.5: positive for signal > 0.1
        else:
            f[0] = signal  # 4 * signal - 0.5: positive for signal > 0.125
        label = int(signal > 0.1)
        rows.append([group, label, *f])
    header = "grp,y," + ",".join(f"f{j}" for j in range(10))
    data = tmp_path / "planted.csv"
    data.write_text(header + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path, data


def test_compare_flags_the_subgroup_pruning_hurts_and_not_the_other(tmp_path, capsys):
    model, data = _planted_classifier(tmp_path)
    features = "|".join(f"f{j}" for j in range(10))
    code = main(["compare", "--model", f"torch:{model}", "--variants", "base,prune:0.3", "--tasks", "fairness_audit",
                 "--task-args", f"data={data},label=y,protected=grp,features={features}",
                 "--output-dir", str(tmp_path / "out"), "--bootstrap-resamples", "200", "--quiet"])
    assert code == 0
    report = json.loads(next((tmp_path / "out" / "compare").glob("*/report.json")).read_text())
    flips = {f["group"]: f for f in report["flips"] if f["variant"] == "prune:0.3"}
    a, b = flips["grp=A"], flips["grp=B"]
    assert a["flagged"] and a["flip_ci"][0] > 0 and a["flips"] > 50
    assert not b["flagged"] and b["flips"] == 0
    assert a["accuracy_change"] < 0 and a["accuracy_change_ci"][1] < 0
    out = capsys.readouterr().out
    assert "grp=A flipped" in out and "grp=B flipped" not in out
    # the gate holds the pruned variant back on group A's loss, and an energy bound reads the labelled figure
    runs = {row["variant"]: row["run_ids"][0] for row in report["rows"]}
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {type: subgroup, task: fairness_audit, max_drop: 0.05}\n"
                      "  - {type: energy, max_joules_per_sample: 1000}\n"
                      "  - {type: energy, max_joules_per_sample: 1000, require_measured: true, name: measured}\n")
    gate = ["gate", "--policy", str(policy), "--results", str(tmp_path / "out"), "--json", str(tmp_path / "g.json"),
            "--junit", str(tmp_path / "g.xml"), "--markdown", str(tmp_path / "g.md"), "--resamples", "500"]
    assert main([*gate, "--candidate", runs["prune:0.3"], "--baseline", runs["base"]]) == 1
    results = json.loads((tmp_path / "g.json").read_text())["results"]
    subgroup, energy, measured = results
    assert not subgroup["passed"] and "grp=A" in subgroup["reason"] and "grp=A: drop" in subgroup["reason"]
    assert subgroup["details"]["grp=A"]["p_value"] < 0.05 and subgroup["details"]["grp=B"]["p_value"] > 0.05
    assert energy["passed"] and "estimated" in energy["reason"]
    assert not measured["passed"] and "requires a measured figure" in measured["reason"]
    main([*gate, "--candidate", runs["base"], "--baseline", runs["base"]])
    assert json.loads((tmp_path / "g.json").read_text())["results"][0]["passed"]  # the base against itself


def test_compare_on_the_demo_model_writes_report_charts_and_records(tmp_path, capsys):
    out_dir = tmp_path / "out"
    code = main(["compare", "--model", "demo", "--variants", "base,int8-dynamic,prune:0.3", "--tasks",
                 "demo_facts_mc", "--limit", "30", "--output-dir", str(out_dir), "--bootstrap-resamples", "200",
                 "--repeats", "2", "--quiet"])
    assert code == 0
    folder = next((out_dir / "compare").glob("*"))
    for name in ("report.json", "report.html", "pareto.png", "pareto.svg", "energy.png", "energy.svg"):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    report = json.loads((folder / "report.json").read_text())
    assert report["variants"] == ["base", "int8-dynamic", "prune:0.3"]
    fingerprints = set()
    for row in report["rows"]:
        energy = row["energy"]
        assert energy["method"] == "estimated" and energy["estimated"] and energy["repeats"] == 2
        assert energy["joules_per_sample"] > 0 and energy["spread"] is not None
        assert row["latency_ms"]["n"] == 30 and row["latency_ms"]["p95"] >= row["latency_ms"]["p50"] > 0
        assert row["size_bytes"] > 0
    sizes = {r["variant"]: r["size_bytes"] for r in report["rows"]}
    assert sizes["int8-dynamic"] < sizes["base"]
    for record_path in (out_dir / "runs").glob("*/*/record.json"):
        record = read_record(record_path)
        fingerprints.add(json.dumps(record["manifest"]["model_fingerprint"], sort_keys=True))
        block = record["manifest"]["energy"]
        assert block["method"] == "estimated" and block["assumption"] and block["n_samples"] == 30
    assert len(fingerprints) == 3  # base, int8, prune: three models, never one cache key
    diffs = [d for d in report["differences"] if d["column"] == "acc"]
    assert {d["variant"] for d in diffs} == {"int8-dynamic", "prune:0.3"}
    for d in diffs:
        assert d["ci"][0] <= d["diff"] <= d["ci"][1] and 0 <= d["p_value"] <= 1
    printed = capsys.readouterr().out
    assert "(est.)" in printed and "estimated from CPU time" in printed


@pytest.mark.parametrize("argv, message", [
    (["--variants", "base"], "needs a reference and at least one variant"),
    (["--variants", "base,prune:2"], "needs a share between 0 and 1"),
    (["--variants", "base,quantum"], "unknown variant 'quantum'"),
    (["--variants", "base,bf16,bf16"], "more than once"),
    (["--variants", "base,bf16", "--repeats", "0"], "--repeats must be at least 1"),
])
def test_bad_compare_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    code = main(["compare", "--model", "demo", "--tasks", "demo_facts_mc", "--output-dir", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_run_with_a_variant_records_it(tmp_path):
    main(["run", "--model", "demo", "--tasks", "demo_facts_mc", "--limit", "5", "--variant", "bf16",
          "--output-dir", str(tmp_path), "--quiet"])
    record = read_record(next(tmp_path.glob("runs/*/*/record.json")))
    assert record["model"] == "demo+bf16" and record["manifest"]["model_fingerprint"]["variant"] == "bf16"
    run_json = json.loads(next(tmp_path.glob("runs/*/run.json")).read_text())
    assert run_json["model_spec"]["variant"] == "bf16"
