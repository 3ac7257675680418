"""Exports read back by the tools that own the formats: huggingface_hub for model-index, lm-eval for its JSON."""

from __future__ import annotations

import json
import math

import yaml
from lb_records import entry, privacy_record, record_spec, write_run

from evalsuite.cli import main
from evalsuite.leaderboards.results import load_samples, open_store, select_records


def test_model_index_reads_back_with_huggingface_hub(demo_results, tmp_path):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    results, run_id = demo_results
    out = tmp_path / "README.md"
    assert main(["export", "--format", "model-index", "--results", str(results), "--run", run_id,
                 "--out", str(out)]) == 0
    store = open_store(results)
    record = select_records(store, [run_id])["evalsuite/demo_facts_mc"]
    store.close()

    card = ModelCard(out.read_text() + "\n# demo\n")
    got = {(r.dataset_type, r.metric_type): r for r in card.data.eval_results}
    assert card.data.model_name == "demo"
    acc = got[("evalsuite/demo_facts_mc", "acc")]
    assert acc.metric_value == record["metrics"]["acc"]["value"] and acc.task_type == "text-generation"
    assert acc.dataset_name == "demo_facts_mc"
    name, parsed = model_index_to_eval_results(yaml.safe_load(out.read_text().strip("-\n"))["model-index"])
    assert name == "demo" and {r.metric_type for r in parsed} == set(record["metrics"]) == {
        "acc", "acc_norm", "ece", "ece_equal_width", "brier", "selective_auc"}


def test_lm_eval_json_reads_back_with_lm_eval(demo_results, tmp_path, capsys):
    from lm_eval.api.metrics import mean_stderr
    from lm_eval.utils import make_table

    results, run_id = demo_results
    assert main(["export", "--format", "lm-eval", "--results", str(results), "--run", run_id]) == 0
    exported = json.loads(capsys.readouterr().out)
    store = open_store(results)
    record = select_records(store, [run_id])["evalsuite/demo_facts_mc"]
    store.close()
    acc = [row["scores"]["acc"] for row in load_samples(record)]

    task = exported["results"]["demo_facts_mc"]
    assert task["acc,none"] == record["metrics"]["acc"]["value"]
    assert math.isclose(task["acc_stderr,none"], mean_stderr(acc), rel_tol=1e-12)  # lm-eval's own stderr
    assert exported["higher_is_better"]["demo_facts_mc"]["acc"] is True
    assert exported["n-samples"]["demo_facts_mc"] == {"original": 40, "effective": 40}
    table = make_table(exported)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    acc_row = next(r for r in rows if r[4] == "acc")
    assert rows[0][0] == "demo_facts_mc" and acc_row[5] == "↑"
    assert float(acc_row[6]) == round(task["acc,none"], 4) and float(acc_row[8]) == round(task["acc_stderr,none"], 4)


def test_lm_eval_stderr_falls_back_to_the_interval_then_na(tmp_path, capsys):
    from lm_eval.utils import make_table

    run = write_run(tmp_path, "m", {"p/dp": privacy_record(epsilon=3.0),
                                    "p/q": record_spec({"score": entry(0.7, "higher", (0.6, 0.8), 50)})})
    assert main(["export", "--format", "lm-eval", "--results", str(tmp_path), "--run", run]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert math.isclose(exported["results"]["q"]["score_stderr,none"], 0.2 / (2 * 1.959963984540054))
    assert exported["results"]["dp"]["epsilon_stderr,none"] == "N/A"
    assert exported["higher_is_better"]["dp"]["mia_auc"] is None  # an ideal-valued metric has no better side
    assert "N/A" in make_table(exported)


def test_export_refuses_mixed_models(tmp_path, capsys):
    a = write_run(tmp_path, "a", {"t": record_spec({"acc": entry(0.5)})})
    b = write_run(tmp_path, "b", {"u": record_spec({"acc": entry(0.5)})})
    assert main(["export", "--format", "model-index", "--results", str(tmp_path), "--run", a, "--run", b]) == 2
    assert "export one model at a time" in capsys.readouterr().err
