"""`evalsuite audit`: the record, artifacts and results store; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from evalsuite.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory, planted_table):
    import joblib

    folder = tmp_path_factory.mktemp("audit_files")
    frame, model = planted_table
    frame.to_csv(folder / "data.csv", index=False)
    joblib.dump(model, folder / "model.joblib")
    return folder


def test_audit_writes_a_fairness_record_in_the_store(files, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["audit", "--model", f"sklearn:{files / 'model.joblib'}", "--model-args", "allow_pickle=true",
                 "--data", str(files / "data.csv"), "--label", "hired", "--protected", "sex,race", "--privileged",
                 "sex=1", "--mitigate", "reweighing,thresholds", "--bootstrap", "200", "--min-group-size", "150",
                 "--output-dir", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    # The same results table as `evalsuite run`; the side-by-side comparison is the record's report.
    assert "evalsuite/fairness_audit" in printed and "95% CI" in printed
    [record_path] = list(out.glob("runs/*/evalsuite_fairness_audit/record.json"))
    record = json.loads(record_path.read_text())
    assert record["task"] == "evalsuite/fairness_audit" and record["manifest"]["seed"] == 1234
    assert record["category"] == "fairness"
    metrics = record["metrics"]
    assert metrics["disparate_impact"]["ideal"] == 1.0 and metrics["disparate_impact"]["direction"] == "ideal"
    assert metrics["statistical_parity_difference"]["ideal"] == 0.0
    assert metrics["accuracy"]["direction"] == "higher"
    assert metrics["statistical_parity_difference"]["ci"][1] < 0
    assert "race.statistical_parity_difference" in metrics and "sex*race.disparate_impact" in metrics
    groups = record["details"]["groups"]
    row = next(g for g in groups if g["group"] == "sex=0")
    assert row["attribute"] == "sex" and set(row["rates"]) == {"base_rate", "selection_rate", "tpr", "fpr"}
    value, lo, hi = row["rates"]["selection_rate"]
    assert lo <= value <= hi
    assert [m["method"] for m in record["details"]["mitigation"]] == \
        ["unmitigated", "refit_unweighted", "reweighing", "thresholds"]
    assert record["details"]["warnings"]  # some intersections have fewer than 150 rows
    folder = record_path.parent
    assert (folder / record["artifacts"]["groups_plot"]).read_bytes()[:4] == b"\x89PNG"
    report = (folder / record["artifacts"]["report_md"]).read_text()
    assert "| thresholds |" in report and "| reweighing |" in report and "SPD" in report
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == record["metrics"]["accuracy"]["n"]
    assert np.mean([s["scores"]["correct"] for s in samples]) == pytest.approx(metrics["accuracy"]["value"])
    with sqlite3.connect(out / "index.sqlite") as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "records" in names
        assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1


BAD = [
    ({"--protected": "gender"}, "no column 'gender'"),
    ({"--protected": "sex", "__filter": "sex == 1"}, "only one group"),
    ({"__nan": True}, "missing values"),
    ({"__graded": True}, "--favorable"),
]


@pytest.mark.parametrize("change,message", BAD, ids=["missing-column", "one-group", "nan-labels", "non-binary"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(files, tmp_path, capsys, planted_table, change,
                                                          message):
    frame = planted_table[0].copy()
    if "__filter" in change:
        frame = frame.query(change["__filter"])
    if change.get("__nan"):
        frame.loc[frame.index[:3], "hired"] = np.nan
    if change.get("__graded"):
        frame["hired"] = np.where(frame["hired"] == 1, "offer", np.where(frame["sex"] == 1, "wait", "reject"))
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    frame.assign(pred=1).to_csv(tmp_path / "with_pred.csv", index=False)
    out = tmp_path / "results"
    args = ["audit", "--predictions", "pred", "--data", str(tmp_path / "with_pred.csv"), "--label", "hired",
            "--protected", change.get("--protected", "sex,race"), "--output-dir", str(out), "--quiet"]
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("evalsuite: error: ") and message in err[0], err
    assert not out.exists()
