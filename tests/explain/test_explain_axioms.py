"""Closed-form oracles: IG on a linear model is w*(x-x'); SHAP on a linear model is w*(x-E[x])."""

from __future__ import annotations

import numpy as np
import pytest


def _linear_data(seed=0, n=200, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.array([1.0, 2.0, 0.5, 3.0]) + np.array([1.0, -2.0, 0.0, 4.0])
    w = np.array([1.5, -0.7, 2.0, 0.3])
    return X, w, 0.25


def test_integrated_gradients_on_linear_model_is_w_times_x_minus_baseline():
    import torch

    from evalsuite.audits.explain.api import explain_table

    X, w, b = _linear_data()
    layer = torch.nn.Linear(4, 1).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w).reshape(1, 4))
        layer.bias.fill_(b)
    background = X[:100]  # at most 100 rows: used whole, so x' is exactly its mean
    attributions, rows = explain_table(layer, X[:5], explainer="captum_ig", background=background, steps=8)
    baseline = background.mean(axis=0)
    for i, a in enumerate(attributions):
        np.testing.assert_allclose(a.scores, w * (X[i] - baseline), atol=1e-5)
        assert a.axiom_error < 1e-5
        assert abs(a.output - (X[i] @ w + b)) < 1e-9
    # An exact additive attribution has zero infidelity; a random one does not.
    assert max(r["infidelity"] for r in rows) < 1e-8
    assert min(r["random_baseline_infidelity"] for r in rows) > 1e-3


@pytest.mark.parametrize("explainer", ["shap_linear", "shap_kernel"])
def test_shap_on_linear_model_matches_closed_form(explainer):
    from sklearn.linear_model import LinearRegression

    from evalsuite.audits.explain.api import explain_table

    X, w, b = _linear_data()
    y = X @ w + b
    model = LinearRegression().fit(X, y)
    background = X[:100]  # independent features; E[x] over the background the explainer sees
    attributions, _ = explain_table(model, X[100:106], explainer=explainer, background=background, measure=False)
    for i, a in enumerate(attributions):
        np.testing.assert_allclose(a.scores, w * (X[100 + i] - background.mean(axis=0)), atol=1e-6)
        assert a.axiom_error < 1e-6  # additivity: sum(phi) + E[f] = f(x)


def test_shap_linear_on_logistic_regression_explains_the_margin():
    from sklearn.linear_model import LogisticRegression

    from evalsuite.audits.explain.api import explain_table

    X, w, _ = _linear_data(seed=1)
    y = (X @ w + np.random.default_rng(2).normal(size=len(X)) > np.median(X @ w)).astype(int)
    model = LogisticRegression().fit(X, y)
    attributions, _ = explain_table(model, X[:4], explainer="shap_linear", background=X[:100], measure=False)
    for i, a in enumerate(attributions):
        np.testing.assert_allclose(a.scores, model.coef_[0] * (X[i] - X[:100].mean(axis=0)), atol=1e-6)
        assert abs(a.output - model.decision_function(X[i:i + 1])[0]) < 1e-9
