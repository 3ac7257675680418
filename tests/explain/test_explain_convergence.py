"""Integrated Gradients that refine their path until completeness holds, and say so when they cannot.

Oracles: a closed form (IG of f(x) = sigmoid(k (w.x - c)) from x' = 0 is w_i x_i / (w.x) * (f(x) - f(0)),
since the gradient is parallel to w all along the path) and captum's LayerIntegratedGradients at 6,000
midpoint steps on a deliberately saturated classifier (the planted-token classifier with its head
scaled, so its probability is a step along the path, as a confidently fine-tuned classifier's is).
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest

from explain_fixtures import planted_sentences
from evalsuite.audits.explain.api import explain_table, explain_texts, text_objective
from evalsuite.audits.explain.path_integral import integrate, path_functions

SATURATION = 30.0  # logits x30: p(planted) goes from ~0 to ~1 within well under 1% of the path


def _sigmoid_model(w, c, k):
    import torch

    class Steep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(len(w), 1).double()
            with torch.no_grad():
                self.linear.weight.copy_(torch.as_tensor(w).reshape(1, -1) * k)
                self.linear.bias.fill_(-c * k)

        def forward(self, x):
            return torch.sigmoid(self.linear(x))

    return Steep()


def _closed_form(w, x, c, k):
    f = lambda v: 1 / (1 + np.exp(-k * (v @ w - c)))  # noqa: E731
    return w * x / (w @ x) * (f(x) - f(np.zeros_like(x)))


def test_adaptive_path_matches_the_closed_form_where_fixed_steps_fail():
    import torch

    w, c, k = np.array([1.0, 2.0, -0.5]), 1.3, 400.0
    x = np.array([0.9, 0.6, 0.2])
    start, end = torch.zeros(1, 3, dtype=torch.float64), torch.as_tensor(x).reshape(1, 3)
    forward = lambda e: _sigmoid_model(w, c, k)(e).reshape(-1)  # noqa: E731
    integrand, values = path_functions(forward, start, end, batch_size=64, reduce_last=False, what="test")
    exact = _closed_form(w, x, c, k)
    fixed = integrate(integrand, values, steps=50, max_steps=50)
    assert not fixed.converged and fixed.relative_gap > 0.01 and fixed.steps == 50
    for method in ("gausslegendre", "riemann_middle"):
        adaptive = integrate(integrand, values, steps=50, method=method)
        assert adaptive.converged and adaptive.relative_gap <= 1e-3 and adaptive.steps < 1000, adaptive
        np.testing.assert_allclose(adaptive.attributions, exact, atol=2e-3 * abs(exact.sum()))


def test_tabular_ig_on_a_step_converges_or_is_marked():
    w, c, k = np.array([1.0, 2.0, -0.5]), 0.0, 300.0
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3)) + np.array([1.0, 1.0, 0.0])
    background = np.zeros((4, 3))  # the baseline is the background mean: exactly 0
    model = _sigmoid_model(w, c, k)
    attributions, _ = explain_table(model, X, explainer="captum_ig", background=background, measure=False)
    for a, x in zip(attributions, X):
        assert a.axiom_holds and a.relative_gap() <= 1e-3 and a.steps >= 50
        spread = max(abs(a.output - a.baseline_output), 1e-6)
        np.testing.assert_allclose(a.scores, _closed_form(w, x, c, k), atol=2e-3 * spread)
    capped, _ = explain_table(model, X, explainer="captum_ig", background=background, measure=False, max_steps=50)
    assert any(not a.axiom_holds for a in capped)
    assert all(a.axiom_holds == (a.axiom_error <= a.axiom_tolerance) for a in capped)


@pytest.fixture(scope="module")
def saturated(planted_classifier):
    import torch

    module = copy.deepcopy(planted_classifier.module)
    with torch.no_grad():
        module.classifier.weight.mul_(SATURATION)
        module.classifier.bias.mul_(SATURATION)
    return SimpleNamespace(**{**vars(planted_classifier), "name": "saturated-classifier", "module": module,
                              "classify": None})


@pytest.fixture(scope="module")
def planted_texts():
    return [{"text": t, "label": "planted"} for t, y in planted_sentences(40, seed=99) if y][:3]


def test_saturated_classifier_converges_to_captums_high_step_answer(saturated, planted_texts):
    import torch
    from captum.attr import LayerIntegratedGradients

    fixed, _ = explain_texts(saturated, planted_texts, steps=50, max_steps=50, measure=False)
    assert all(a.relative_gap() > 0.05 for a in fixed)  # 50 fixed steps miss completeness badly ...
    assert all(a.axiom_holds is False for a in fixed)  # ... and say so
    adaptive, _ = explain_texts(saturated, planted_texts, measure=False)  # the defaults: tol 1e-3
    objective = text_objective(saturated)
    assert all(a.axiom_holds and a.relative_gap() <= 1e-3 and a.steps <= 2000 for a in adaptive)
    for item, a in list(zip(planted_texts, adaptive))[:2]:
        example = objective.classifier_example(item["text"], item["label"])
        ids, ref = torch.tensor([example.ids]), torch.tensor([objective.baseline_ids(example)])
        oracle = LayerIntegratedGradients(lambda t: objective.forward_ids(t, example), objective.embedding_layer)
        attr, delta = oracle.attribute(ids, baselines=ref, n_steps=6000, method="riemann_middle",
                                       internal_batch_size=2000, return_convergence_delta=True)
        spread = abs(a.output - a.baseline_output)
        assert spread > 0.5 and abs(float(delta)) < 1e-3 * spread  # the oracle itself is complete
        np.testing.assert_allclose(a.attributable_scores(), attr.sum(-1)[0].double().numpy()[example.positions],
                                   atol=2e-3 * spread)


def _job(model, tmp_path, data, **options):
    from evalsuite.config import RunConfig
    from evalsuite.records import read_record
    from evalsuite.runner import run

    config = RunConfig(model=model.name, tasks=["explain_text_classifier"], output_dir=str(tmp_path),
                       progress=False, bootstrap_resamples=100, task_args={"data": str(data), **options})
    summary = run(config, model=model)
    path = tmp_path / next(iter(summary["records"].values()))
    return read_record(path), path.parent


def test_unconverged_inputs_are_marked_in_samples_record_table_and_heatmap(saturated, planted_texts, tmp_path):
    from evalsuite.display import results_table

    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t["text"]}) + "\n" for t in planted_texts))
    body, folder = _job(saturated, tmp_path / "capped", data, max_steps=70)  # too few to find the step
    metrics = body["metrics"]
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    failed = [s["doc_id"] for s in samples if s["axiom_holds"] is False]
    assert failed and metrics["ig_unconverged"]["value"] == len(failed) and metrics["ig_unconverged"]["n"] == 3
    worst = max(s["relative_gap"] for s in samples)
    assert worst > 1e-3 and abs(metrics["ig_worst_relative_gap"]["value"] - worst) < 1e-9
    assert body["details"]["completeness"]["failed_doc_ids"] == failed and body["details"]["max_steps"] == 70
    assert all(s["steps"] <= 70 for s in samples)
    table = results_table([body])  # the one-row table leads with the failure count
    assert "ig_unconverged" in table and "comprehensiveness " not in table
    page = (folder / body["artifacts"]["heatmap"]).read_text()
    assert page.count('class="sample untrusted"') == len(failed) and "NOT CONVERGED" in page
    assert f"{len(failed)} of 3 inputs failed" in page

    body, folder = _job(saturated, tmp_path / "default", data)
    assert body["metrics"]["ig_unconverged"]["value"] == 0 and body["metrics"]["ig_worst_relative_gap"]["value"] <= 1e-3
    assert "untrusted" not in (folder / body["artifacts"]["heatmap"]).read_text().split("</style>")[1]
    assert "comprehensiveness" in results_table([body]).splitlines()[2]
    # Faithfulness: the random-attribution baseline and the paired difference, each with a CI.
    for name in ("comprehensiveness", "deletion_auc"):
        for key in (name, f"random_baseline_{name}", f"{name}_minus_random"):
            m = body["metrics"][key]
            assert m["ci"] is not None and m["ci"][0] <= m["value"] <= m["ci"][1], key
    pairs = [(s["scores"]["comprehensiveness"] - s["scores"]["random_baseline_comprehensiveness"])
             for s in (json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines())]
    assert abs(body["metrics"]["comprehensiveness_minus_random"]["value"] - np.mean(pairs)) < 1e-9


def test_shap_records_its_additivity_gap_and_baseline():
    from sklearn.linear_model import LogisticRegression

    from evalsuite.audits.explain.outputs import completeness

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    attributions, _ = explain_table(model, X[:4], explainer="shap_linear", background=X[:50], measure=False)
    for a in attributions:
        assert a.axiom_holds and a.axiom_error <= a.axiom_tolerance  # sum(phi) + E[f] = f(x) within 1e-3
        assert abs(a.scores.sum() + a.extra["shap_base_value"] - a.output) == pytest.approx(a.axiom_error, abs=1e-9)
        assert a.baseline.startswith("background of 50 rows") and a.to_json()["baseline"] == a.baseline
    metrics, details, headline = completeness(attributions)
    assert metrics["shap_additivity_failures"]["value"] == 0 and headline is None
    assert details["completeness"]["baseline"] == attributions[0].baseline
    # A gap above the tolerance is a failure, counted and made the table's headline.
    attributions[1].axiom_holds, attributions[1].axiom_error = None, 0.5 * attributions[1].axiom_scale()
    from evalsuite.audits.explain.attribution import check_axiom

    assert check_axiom(attributions[1], 1e-3).axiom_holds is False
    metrics, details, headline = completeness(attributions)
    assert headline == "shap_additivity_failures" and metrics[headline]["value"] == 1
    assert details["completeness"]["failed_doc_ids"] == [1]
    assert metrics["shap_worst_relative_additivity_error"]["value"] == pytest.approx(0.5)


@pytest.mark.parametrize("args, message", [
    ("max_steps=10", "max_steps (10) is below steps (50)"),
    ("tol=0", "tol must be > 0"),
    ("tol=2", "tol must be <= 1"),
])
def test_tolerance_and_cap_are_checked_before_the_model_loads(args, message, capsys, tmp_path):
    from evalsuite.cli import main

    code = main(["run", "--model", "demo", "--tasks", "explain_demo_lm", "--task-args", args, "--quiet",
                 "--output-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
