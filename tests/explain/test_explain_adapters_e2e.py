"""Explanation jobs through `evalsuite run` with the real adapters (scikit-learn file, HF classifier folder)."""

from __future__ import annotations

import json

import numpy as np

from evalsuite.cli import main


def _record(out, task):
    path = next(out.glob(f"runs/*/*{task}/record.json"))
    return json.loads(path.read_text()), path.parent


def test_explain_tabular_on_a_saved_sklearn_model(tmp_path, capsys):
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "planted", "d"])
    frame["label"] = (frame.planted > 0).astype(int)  # only one feature decides the label
    frame.to_csv(tmp_path / "rows.csv", index=False)
    joblib.dump(LogisticRegression().fit(frame.drop(columns="label"), frame.label), tmp_path / "m.joblib")
    out = tmp_path / "out"
    code = main(["run", "--model", f"sklearn:{tmp_path / 'm.joblib'}", "--model-args", "allow_pickle=true",
                 "--tasks", "explain_tabular", "--quiet",
                 "--task-args", f"data={tmp_path / 'rows.csv'},label_column=label,n=10",
                 "--output-dir", str(out)])
    assert code == 0, capsys.readouterr().err
    record, folder = _record(out, "explain_tabular")
    assert record["category"] == "explainability"
    top = max(record["details"]["global_importance"], key=lambda r: r["mean_abs_attribution"])
    assert top["feature"] == "planted"
    assert (folder / record["artifacts"]["importance_plot"]).stat().st_size > 0


def test_explain_text_classifier_on_a_saved_hf_folder(tmp_path, planted_classifier, capsys):
    folder = tmp_path / "clf"
    planted_classifier.module.save_pretrained(folder)
    planted_classifier.tokenizer.save_pretrained(folder)
    from explain_fixtures import PLANTED, planted_sentences

    texts = [t for t, y in planted_sentences(12, seed=5) if y == 1][:4]
    (tmp_path / "texts.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = tmp_path / "out"
    code = main(["run", "--model", f"hf-classifier:{folder}", "--tasks", "explain_text_classifier", "--quiet",
                 "--task-args", f"data={tmp_path / 'texts.jsonl'},n=4,steps=20", "--output-dir", str(out)])
    assert code == 0, capsys.readouterr().err
    record, run_folder = _record(out, "explain_text_classifier")
    rows = json.loads((run_folder / record["artifacts"]["attributions"]).read_text())
    tops = [r["tokens"][int(np.argmax(r["scores"]))] for r in rows]
    assert sum(t == PLANTED for t in tops) >= 3, tops
    assert record["metrics"]["comprehensiveness"]["direction"] == "higher"
