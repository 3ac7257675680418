"""Explanation tasks end to end (records, artifacts, store), tabular planted features, the HTML page and CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from evalsuite.audits.explain.attribution import Attribution


def _run(model, task, tmp_path, **options):
    from evalsuite.config import RunConfig
    from evalsuite.runner import run

    config = RunConfig(model=model.name, tasks=[task], output_dir=str(tmp_path), progress=False,
                       bootstrap_resamples=200, task_args=options)
    summary = run(config, model=model)
    path = tmp_path / next(iter(summary["records"].values()))
    return json.loads(path.read_text()), path


def _planted_table(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 5))
    y = (X[:, 2] > 0).astype(int)  # only feature x2 decides the label
    lines = ["x0,x1,x2,x3,x4,label"] + [",".join(f"{v:.6f}" for v in row) + f",{t}" for row, t in zip(X, y)]
    (tmp_path / "table.csv").write_text("\n".join(lines) + "\n")
    return X, y, tmp_path / "table.csv"


@pytest.mark.parametrize("estimator", ["forest", "logistic"])
def test_tabular_job_ranks_the_planted_feature_first(tmp_path, estimator):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y, csv = _planted_table(tmp_path)
    est = (RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0) if estimator == "forest"
           else LogisticRegression()).fit(X, y)
    model = SimpleNamespace(name=f"sk-{estimator}", estimator=est, labels=["0", "1"],
                            fingerprint=lambda: {"adapter": "test", "model": estimator})
    record, path = _run(model, "explain_tabular", tmp_path, data=str(csv), n=15)
    assert record["category"] == "explainability"
    assert record["details"]["explainer"] == ("shap_tree" if estimator == "forest" else "shap_linear")
    assert record["details"]["global_importance"][0]["feature"] == "x2"
    assert record["metrics"]["shap_additivity_error"]["value"] < 1e-6
    assert record["metrics"]["comprehensiveness"]["value"] > record["metrics"]["random_baseline_comprehensiveness"][
        "value"]
    assert (path.parent / record["artifacts"]["importance_plot"]).read_bytes()[:4] == b"\x89PNG"


def test_text_classifier_job_writes_record_json_and_html(tmp_path, planted_classifier):
    from explain_fixtures import planted_sentences

    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in planted_sentences(6, seed=5)))
    record, path = _run(planted_classifier, "explain_text_classifier", tmp_path, data=str(data), steps=20)
    for name in ("comprehensiveness", "sufficiency", "deletion_auc", "insertion_auc", "infidelity",
                 "ig_convergence_delta", "random_baseline_comprehensiveness"):
        assert name in record["metrics"] and record["metrics"][name]["n"] == 6
    assert record["metrics"]["sufficiency"]["direction"] == "lower"
    per_sample = json.loads((path.parent / record["artifacts"]["attributions"]).read_text())
    assert len(per_sample) == 6 and len(per_sample[0]["tokens"]) == len(per_sample[0]["scores"])
    rows = [json.loads(l) for l in (path.parent / "samples.jsonl").read_text().splitlines()]
    assert rows[0]["doc_id"] == 0 and "comprehensiveness" in rows[0]["scores"]
    html = (path.parent / record["artifacts"]["heatmap"]).read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html


def test_heatmap_page_escapes_every_token_and_loads_nothing():
    from evalsuite.audits.explain.heatmap_html import page

    a = Attribution(["<s>", "<script>alert(1)</script>", ' "q" & ', "x"], np.array([0, 2.0, -1.0, 0.5]),
                    [1, 2, 3], "<b>label</b>", 0.9, 0.1, "captum_ig", "ig_convergence_delta", 1e-4)
    out = page([a], title="t<i>")
    assert "<script" not in out and "&lt;script&gt;" in out and "&lt;b&gt;label" in out
    assert "&quot;q&quot; &amp;" in out and "http" not in out and "src=" not in out
    assert "rgba(220,40,40,1.000)" in out and "rgba(40,90,220,0.500)" in out  # strongest red, half blue


def test_cli_one_input_and_recorded_run(tmp_path, capsys):
    from evalsuite.cli import main

    out_json, out_html = tmp_path / "a.json", tmp_path / "a.html"
    rc = main(["explain", "--model", "demo", "--text", "Q: In which city does Porel Prantett live?\nA:",
               "--target", " Lunport", "--steps", "16", "--json", str(out_json), "--html", str(out_html),
               "--output-dir", str(tmp_path / "evalsuite-results"), "--quiet"])
    assert rc == 0 and "comprehensiveness" in capsys.readouterr().out
    [record] = list((tmp_path / "evalsuite-results").glob("runs/*/evalsuite_explain_text/record.json"))
    assert json.loads(record.read_text())["manifest"]["seed"] == 1234  # a recorded run, like any other
    saved = json.loads(out_json.read_text())
    assert saved["method"] == "captum_layer_ig" and saved["faithfulness"]["ig_convergence_delta"] < 0.05
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    rc = main(["explain", "--model", "demo", "--task", "explain_demo_lm", "--n", "2", "--steps", "8",
               "--explainer", "captum_feature_ablation", "--output-dir", str(tmp_path / "res"), "--quiet"])
    assert rc == 0 and "comprehensiveness" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--text", "hi", "--explainer", "shap_tree"], "does not explain text"),
    (["--text", "hi", "--explainer", "nope"], "unknown explainer 'nope'"),
    (["--text", "Q: where?"], "continuation"),
    (["--task", "explain_text_classifier"], "needs --data"),
    ([], "exactly one of --text"),
    (["--text", "hi", "--target", " x", "--steps", "0"], "steps must be >= 1"),
    (["--text", "hi", "--target", " x", "--max-steps", "10"], "max_steps (10) is below steps (50)"),
    (["--text", "hi", "--target", " x", "--tol", "0"], "tol must be > 0"),
    (["--task", "explain_demo_lm", "--n", "0"], "n must be >= 1"),
    (["--task", "explain_demo_lm", "--n", "many"], "invalid int value"),
    (["--task", "explain_text_classifier", "--data", "{tmp}/nope.jsonl"], "does not exist"),
    (["--task", "explain_tabular", "--data", "{tmp}/nope.csv", "--explainer", "captum_layer_ig"],
     "nope.csv' does not exist"),
    (["--text", "hi", "--target", " x", "--html", "{tmp}"], "is a folder"),
    (["--text", "hi", "--target", " x", "--json", "{tmp}/plain.txt/out.json"], "is a file"),
    (["--text", "hi", "--n", "3"], "only apply with --task"),
    (["--task", "explain_demo_lm", "--html", "x.html"], "only apply to one --text input"),
    (["--text", "hi", "--target", " x", "--model-args", "dtyp=float32"], "Did you mean 'dtype'"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path):
    from evalsuite.cli import main

    (tmp_path / "plain.txt").write_text("not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["explain", "--model", "demo", "--quiet", "--output-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


@pytest.mark.parametrize("args, message", [
    ("step=5", "Did you mean 'steps'"),
    ("explain_demo_lm:n=0", "n must be >= 1"),
    ("explainer=shap_tree", "does not explain text"),
    ("data=/nonexistent.jsonl", "does not exist"),
])
def test_explanation_task_options_are_checked_before_the_model_loads(args, message, capsys, tmp_path):
    from evalsuite.cli import main

    code = main(["run", "--model", "demo", "--tasks", "explain_demo_lm", "--task-args", args, "--quiet",
                 "--output-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
