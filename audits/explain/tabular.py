"""SHAP Kernel, Linear and Tree explainers for tabular estimators, and the output each one explains.

Each explainer states which output it explains, and the faithfulness metrics
perturb that same output:
- shap_kernel: predict_proba[:, class] (predict for regressors), background = a sample of the data;
- shap_linear: the margin (decision_function; predict for regressors), interventional with independent
  features, so phi_i = w_i (x_i - E[x_i]) exactly;
- shap_tree: predict_proba[:, class] through TreeExplainer's interventional algorithm
  (model_output="probability"), the raw prediction for regressors.
Removed features take their background mean.
"""

from __future__ import annotations

import numpy as np

from evalsuite.audits.explain.attribution import AXIOM_SHAP_ADDITIVITY, Attribution
from evalsuite.audits.explain.objectives import TabularObjective
from evalsuite.registry import explainer

MAX_BACKGROUND = 100


def background_sample(X: np.ndarray, size: int = MAX_BACKGROUND, seed: int = 0) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if len(X) <= size:
        return X
    return X[np.random.default_rng(seed).choice(len(X), size=size, replace=False)]


def is_classifier(estimator) -> bool:
    return hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")


def default_class(estimator, X) -> int:
    """Binary: the positive (last) class; multiclass: the class predicted most often."""
    if len(estimator.classes_) == 2:
        return 1
    return int(np.bincount(np.asarray(estimator.predict_proba(X)).argmax(1)).argmax())


def objective_for(estimator, X, feature_names, *, output: str, target_class: int | None = None,
                  seed: int = 0) -> TabularObjective:
    """output: "probability" (predict_proba[:, class]) or "margin" (decision_function); regressors: predict."""
    background = background_sample(X, seed=seed)
    if not is_classifier(estimator):
        return TabularObjective(lambda Z: np.asarray(estimator.predict(Z), float).reshape(-1), background,
                                feature_names, "prediction")
    cls = default_class(estimator, X) if target_class is None else int(target_class)
    name = str(estimator.classes_[cls])
    if output == "margin":
        def margin(Z):
            m = np.asarray(estimator.decision_function(Z), dtype=float)
            return m if m.ndim == 1 else m[:, cls]
        return TabularObjective(margin, background, feature_names, f"margin[{name}]")
    return TabularObjective(lambda Z: np.asarray(estimator.predict_proba(Z), float)[:, cls], background,
                            feature_names, f"P({name})")


def _select(values, n_rows: int, n_features: int, cls: int | None) -> np.ndarray:
    """shap returns (rows, features) or (rows, features, outputs) or a list per class: one output's values."""
    if isinstance(values, list):
        values = values[cls if cls is not None and len(values) > 1 else -1]
    values = np.asarray(values, dtype=float)
    if values.ndim == 3:
        values = values[:, :, cls if cls is not None else -1]
    return values.reshape(n_rows, n_features)


def _expected(value, cls: int | None) -> float:
    arr = np.asarray(value, dtype=float).reshape(-1)
    return float(arr[cls] if cls is not None and len(arr) > 1 else arr[-1])


class ShapTabularExplainer:
    """One SHAP algorithm over rows of a tabular estimator."""

    def __init__(self, algorithm: str, nsamples: int | str = "auto"):
        self.algorithm, self.nsamples = algorithm, nsamples
        self.name = f"shap_{algorithm}"
        self.output = "margin" if algorithm == "linear" else "probability"

    def explain_tabular(self, objective: TabularObjective, X: np.ndarray, *, estimator=None,
                        target_class: int | None = None) -> list[Attribution]:
        from evalsuite.errors import UserError, require

        shap = require("shap", "explain")
        X = np.asarray(X, dtype=float)
        classifier = estimator is not None and is_classifier(estimator)
        cls = (default_class(estimator, X) if target_class is None else int(target_class)) if classifier else None
        if self.algorithm == "kernel":
            algo = shap.KernelExplainer(objective.predict, objective.background)
            values = algo.shap_values(X, nsamples=self.nsamples, silent=True)
            expected = _expected(algo.expected_value, None)
            values = _select(values, len(X), X.shape[1], None)
        elif self.algorithm == "linear":
            try:
                algo = shap.LinearExplainer(estimator, shap.maskers.Independent(objective.background,
                                                                                max_samples=len(objective.background)))
            except Exception as exc:
                raise UserError(f"shap_linear needs a linear model (coef_, intercept_): {exc}; "
                                "use shap_kernel for other estimators") from None
            values = _select(algo.shap_values(X), len(X), X.shape[1], cls)
            expected = _expected(algo.expected_value, cls)
        elif self.algorithm == "tree":
            try:
                algo = shap.TreeExplainer(estimator, data=objective.background, feature_perturbation="interventional",
                                          model_output="probability" if classifier else "raw")
            except Exception as exc:
                raise UserError(f"shap_tree needs a tree model (decision trees, forests, gradient boosting): "
                                f"{exc}; use shap_kernel for other estimators") from None
            values = _select(algo.shap_values(X, check_additivity=False), len(X), X.shape[1], cls)
            expected = _expected(algo.expected_value, cls)
        else:  # pragma: no cover - guarded by the factories
            raise ValueError(self.algorithm)
        outputs = objective.predict(X)
        base_out = float(objective.predict(objective.baseline[None, :])[0])
        return [Attribution(objective.feature_names, values[i], list(range(X.shape[1])), objective.target,
                            float(outputs[i]), base_out, self.name, AXIOM_SHAP_ADDITIVITY,
                            abs(float(values[i].sum()) + expected - float(outputs[i])),
                            {"shap_base_value": expected},
                            baseline=f"background of {len(objective.background)} rows (E[f] {expected:.6g})")
                for i in range(len(X))]


@explainer("shap_kernel", description="SHAP KernelExplainer for any tabular model (predict_proba)")
def shap_kernel(nsamples: int | str = "auto", **_):
    return ShapTabularExplainer("kernel", nsamples=nsamples)


@explainer("shap_linear", description="SHAP LinearExplainer (margin, independent features)")
def shap_linear(**_):
    return ShapTabularExplainer("linear")


@explainer("shap_tree", description="SHAP TreeExplainer, interventional (probability for classifiers)")
def shap_tree(**_):
    return ShapTabularExplainer("tree")
