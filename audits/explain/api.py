"""Python entry points: explain one text or many, or rows of a table, with faithfulness measured.

    from evalsuite.audits.explain.api import explain_text
    attribution, faithfulness = explain_text(adapter, "Q: Where does Porel live?\\nA:", target=" Lunport")

`model` is an adapter exposing `.module` and `.tokenizer` (HFCausalLM, the
sequence-classifier adapter) or, for tables, `.estimator` (or a bare
scikit-learn estimator). Language models explain the continuation's
log-probability (`target` is the continuation), classifiers the probability of
`target` (a label name or index; default: the predicted class).
"""

from __future__ import annotations

import numpy as np

from evalsuite.audits.explain.attribution import Attribution, check_axiom, get_explainer
from evalsuite.audits.explain.batching import token_budget_for
from evalsuite.audits.explain.path_integral import DEFAULT_MAX_STEPS, DEFAULT_TOL
from evalsuite.errors import UserError

DEFAULT_TEXT_EXPLAINER = "captum_layer_ig"


def text_kind(model) -> str:
    """'classifier' for adapters with labels/classify, 'lm' for ones that score continuations."""
    if getattr(model, "labels", None) is not None or callable(getattr(model, "classify", None)):
        return "classifier"
    if callable(getattr(model, "loglikelihood", None)) or hasattr(getattr(model, "module", None), "generate"):
        return "lm"
    raise UserError(f"model '{getattr(model, 'name', model)}' is neither a text classifier nor a language model; "
                    "explain it with a tabular explainer or pick another model")


def text_objective(model, kind: str | None = None):
    from evalsuite.audits.explain.objectives import TextObjective

    module, tokenizer = getattr(model, "module", None), getattr(model, "tokenizer", None)
    if module is None or tokenizer is None:
        raise UserError(f"explaining text needs a model with a torch module and tokenizer; "
                        f"'{getattr(model, 'name', model)}' has none (use an hf, demo or hf-classifier model)")
    kind = kind or text_kind(model)
    return TextObjective(module, tokenizer, kind=kind, device=getattr(model, "device", None),
                         token_budget=token_budget_for(model), labels=getattr(model, "labels", None))


def build_example(objective, item: dict):
    """item: {"context", "continuation"} for an LM, {"text", "label"?} for a classifier."""
    if objective.kind == "lm":
        if not item.get("context") or not item.get("continuation"):
            raise UserError("explaining a language model needs a context and its continuation "
                            "(--text and --target, or data rows with 'context'/'continuation')")
        example = objective.lm_example(item["context"], item["continuation"])
        example.meta["text"] = item["context"]
    else:
        if not item.get("text"):
            raise UserError("explaining a classifier needs a non-empty text")
        example = objective.classifier_example(item["text"], item.get("label"))
        example.meta["text"] = item["text"]
    return example


def explain_texts(model, items: list[dict], *, explainer: str = DEFAULT_TEXT_EXPLAINER, steps: int = 50,
                  seed: int = 0, kind: str | None = None, measure: bool = True, progress=None,
                  tol: float = DEFAULT_TOL, max_steps: int = DEFAULT_MAX_STEPS):
    """Attributions (and per-input faithfulness rows, when `measure`) for many texts of one model.

    `tol` is the relative tolerance of each explainer's own axiom (IG completeness, SHAP additivity):
    Integrated Gradients refines its path up to `max_steps` gradient evaluations to meet it, and every
    attribution's `axiom_holds` says whether it was met."""
    from evalsuite.audits.explain.faithfulness import sample_metrics

    algo = get_explainer(explainer, "text", steps=steps, seed=seed, tol=tol, max_steps=max_steps)
    objective = text_objective(model, kind)
    examples = [build_example(objective, item) for item in items]  # validate every input before any work
    attributions, rows = [], []
    for i, example in enumerate(examples):
        attribution = check_axiom(algo.explain_text(objective, example), tol)
        attributions.append(attribution)
        if measure:
            rows.append(sample_metrics(objective.scorer(example), attribution, seed=seed + i))
        if progress:
            progress(i + 1, len(examples))
    return attributions, rows


def explain_text(model, text: str, *, target: str | int | None = None, explainer: str = DEFAULT_TEXT_EXPLAINER,
                 steps: int = 50, seed: int = 0, tol: float = DEFAULT_TOL,
                 max_steps: int = DEFAULT_MAX_STEPS) -> tuple[Attribution, dict]:
    """One input: its attribution and its faithfulness (with the random-attribution baseline)."""
    kind = text_kind(model)
    item = {"context": text, "continuation": target} if kind == "lm" else {"text": text, "label": target}
    attributions, rows = explain_texts(model, [item], explainer=explainer, steps=steps, seed=seed, kind=kind,
                                       tol=tol, max_steps=max_steps)
    return attributions[0], rows[0]


def default_tabular_explainer(estimator) -> str:
    """Trees and tree ensembles: shap_tree; models with coef_/intercept_: shap_linear; anything else: shap_kernel."""
    from sklearn.ensemble import BaseEnsemble
    from sklearn.tree import BaseDecisionTree

    if isinstance(estimator, (BaseDecisionTree, BaseEnsemble)):
        return "shap_tree"
    if hasattr(estimator, "coef_") and hasattr(estimator, "intercept_"):
        return "shap_linear"
    return "shap_kernel"


def explain_table(model, X, feature_names: list[str] | None = None, *, explainer: str | None = None,
                  background=None, target_class: int | None = None, steps: int = 50, seed: int = 0,
                  measure: bool = True, tol: float = DEFAULT_TOL, max_steps: int = DEFAULT_MAX_STEPS):
    """Attributions and faithfulness rows for table rows X of an estimator (or an adapter with .estimator)."""
    from evalsuite.audits.explain.faithfulness import sample_metrics
    from evalsuite.audits.explain.tabular import objective_for

    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or len(X) == 0:
        raise UserError("tabular explanations need a non-empty 2-D table of numeric features")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1])]
    estimator = getattr(model, "estimator", None) or model
    name = explainer or default_tabular_explainer(estimator)
    algo = get_explainer(name, "tabular", steps=steps, seed=seed, tol=tol, max_steps=max_steps)
    data = X if background is None else np.asarray(background, dtype=float)
    if name.split("/")[-1] == "captum_ig":
        objective = _torch_tabular_objective(model, data, names, target_class, seed)
        attributions = algo.explain_tabular(objective, X)
    else:
        if not hasattr(estimator, "predict"):
            raise UserError(f"'{getattr(model, 'name', model)}' has no estimator with predict(); tabular SHAP "
                            "explainers need a scikit-learn-style model")
        objective = objective_for(estimator, data, names, output=algo.output, target_class=target_class, seed=seed)
        attributions = algo.explain_tabular(objective, X, estimator=estimator, target_class=target_class)
    attributions = [check_axiom(a, tol) for a in attributions]
    rows = [sample_metrics(objective.scorer(X[i]), a, seed=seed + i) for i, a in enumerate(attributions)] \
        if measure else []
    return attributions, rows


def _torch_tabular_objective(model, background, names, target_class, seed):
    import torch

    from evalsuite.audits.explain.objectives import TabularObjective
    from evalsuite.audits.explain.tabular import background_sample

    module = getattr(model, "module", None) or (model if isinstance(model, torch.nn.Module) else None)
    if module is None:
        raise UserError("captum_ig on tables needs a torch model; use shap_kernel/shap_linear/shap_tree otherwise")
    dtype = next(module.parameters(), torch.zeros((), dtype=torch.float64)).dtype  # no parameters: float64
    cls = 0 if target_class is None else int(target_class)

    def forward(x):
        out = module(x.to(dtype))
        return out.reshape(len(x), -1)[:, cls]

    def predict(Z):
        with torch.no_grad():
            return forward(torch.as_tensor(np.asarray(Z, dtype=float), dtype=dtype)).double().numpy()

    objective = TabularObjective(predict, background_sample(background, seed=seed), names, f"output[{cls}]")
    objective.torch_forward, objective.torch_dtype = forward, dtype
    return objective
