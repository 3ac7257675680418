"""Explanation tasks (Jobs, category "explainability"): attributions with faithfulness metrics.

- explain_demo_lm: the demo-world fact questions; the continuation (the answer) log-probability is
  explained over the question's tokens (BOS fixed), LayerIntegratedGradients by default.
- explain_text_classifier: texts from a data file (option `data`, field `text_field`), the predicted
  class's probability explained.
- explain_tabular: rows of a data file (option `data`, the `label_column` dropped) for an estimator,
  the SHAP explainer picked by model type unless `explainer` is given; writes a global importance plot.
- explain_text: one input (`text`, and for a language model the continuation `target`); what
  `evalsuite explain --text` runs. Its attribution is also written to `html`/`json` when given.

Options are typed keyword parameters (`evalsuite describe TASK`); explainer names, data files and
output paths are checked when the task is built, before the model loads. --limit also caps n.
Every run records the method's faithfulness and a random attribution's on the same inputs.
Integrated Gradients refines its path per input until completeness holds within `tol` (relative to
|f(x) - f(x')|) or `max_steps` gradient evaluations are spent; inputs that miss it are counted and
marked (see `path_integral` and `outputs`). `tol` also judges SHAP's additivity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from evalsuite.errors import UserError
from evalsuite.jobs import Job
from evalsuite.options import Option
from evalsuite.registry import task

from evalsuite.audits.explain.path_integral import DEFAULT_MAX_STEPS, DEFAULT_TOL

DEFAULT_N, DEFAULT_STEPS, TEXT_DEFAULT = 20, 50, "captum_layer_ig"
EXPLANATION_FILE = "explanation.json"

N = Annotated[int, Option("inputs to explain (--limit also caps it)", min=1)]
Steps = Annotated[int, Option("Integrated Gradients steps of the first rule (more are added where the path needs "
                              "them, up to max_steps)", min=1, max=100_000)]
Tol = Annotated[float, Option("relative completeness tolerance: |sum(attr) - (f(x) - f(x'))| <= tol * "
                              "|f(x) - f(x')| (IG refines until it holds; also judges SHAP additivity)",
                              min=0, min_exclusive=True, max=1)]
MaxSteps = Annotated[int, Option("cap on Integrated Gradients gradient evaluations per input; inputs that have not "
                                 "converged by then are marked", min=1, max=1_000_000)]
TextExplainer = Annotated[str, Option("captum_layer_ig, captum_ig, captum_feature_ablation, captum_shapley_sampling "
                                      "or shap_partition_text")]


def _count(n: int, limit: int | None, available: int) -> int:
    return min(n, limit or n, available)


def _explainer(name: str | None, kind: str, steps: int, tol: float, max_steps: int) -> str | None:
    from evalsuite.audits.explain.attribution import get_explainer
    from evalsuite.audits.explain.path_integral import check_budget

    check_budget(steps, max_steps, tol)  # max_steps below steps fails now, whatever the explainer
    if name is not None:
        get_explainer(name, kind)  # an unknown or wrong-kind name fails now, before the model loads
    return name


def _records(path: str, what: str) -> list[dict]:
    from evalsuite.task_types import load_records

    if not Path(path).is_file():
        raise UserError(f"data file '{path}' does not exist; check the path ({what})")
    return load_records(path)


def _text_outcome(model, ctx, items, *, explainer: str, steps: int, title: str, kind: str, tol: float,
                  max_steps: int):
    from evalsuite.audits.explain.api import explain_texts
    from evalsuite.audits.explain.outputs import text_outcome

    progress = (lambda i, n: ctx.echo(f"  explained {i}/{n}")) if ctx.progress else None
    attributions, rows = explain_texts(model, items, explainer=explainer, steps=steps, seed=ctx.seed, kind=kind,
                                       progress=progress, tol=tol, max_steps=max_steps)
    details = {"explainer": explainer, "steps": steps, "tol": tol, "max_steps": max_steps, "objective": kind}
    return text_outcome(ctx, items, attributions, rows, title=title, details=details), attributions, rows


@task("explain_demo_lm")
def explain_demo_lm(n: N = DEFAULT_N, steps: Steps = DEFAULT_STEPS, explainer: TextExplainer = TEXT_DEFAULT,
                    tol: Tol = DEFAULT_TOL, max_steps: MaxSteps = DEFAULT_MAX_STEPS,
                    data: Annotated[str | None, Option("JSONL of questions with 'prompt' and 'answer' fields "
                                                       "(default: the demo world's fact questions)")] = None) -> Job:
    """Token attributions of the demo LM's answers to fact questions, with faithfulness metrics."""
    from evalsuite.tasks import DATA

    _explainer(explainer, "text", steps, tol, max_steps)
    docs = _records(data or str(DATA / "demo_facts_gen.jsonl"), "data")
    if not docs or any(not isinstance(d, dict) or "prompt" not in d or "answer" not in d for d in docs):
        raise UserError(f"data file '{data}' needs 'prompt' and 'answer' fields on every row")
    items = [{"context": d["prompt"], "continuation": " " + str(d["answer"]).strip()} for d in docs]

    def run(model, ctx):
        chosen = items[:_count(n, ctx.limit, len(items))]
        return _text_outcome(model, ctx, chosen, explainer=explainer, steps=steps, kind="lm",
                             tol=tol, max_steps=max_steps,
                             title="Demo LM: which question tokens support the answer")[0]

    return Job(run=run, category="explainability", requires=("module", "tokenizer"),
               description="LayerIG (or any text explainer) on the demo world's fact answers")


@task("explain_text_classifier")
def explain_text_classifier(data: Annotated[str, Option("a .jsonl/.csv of texts to explain")],
                            text_field: Annotated[str, Option("the text field of data")] = "text",
                            n: N = DEFAULT_N, steps: Steps = DEFAULT_STEPS,
                            explainer: TextExplainer = TEXT_DEFAULT, tol: Tol = DEFAULT_TOL,
                            max_steps: MaxSteps = DEFAULT_MAX_STEPS) -> Job:
    """Token attributions of a text classifier's predicted class over a data file, with faithfulness."""
    _explainer(explainer, "text", steps, tol, max_steps)
    docs = _records(data, "data")
    if not docs or any(not isinstance(d, dict) or text_field not in d for d in docs):
        raise UserError(f"data file '{data}' needs a '{text_field}' field on every row (set option text_field)")
    items = [{"text": str(d[text_field])} for d in docs]

    def run(model, ctx):
        chosen = items[:_count(n, ctx.limit, len(items))]
        return _text_outcome(model, ctx, chosen, explainer=explainer, steps=steps, kind="classifier",
                             tol=tol, max_steps=max_steps,
                             title="Text classifier: which tokens support the predicted class")[0]

    return Job(run=run, category="explainability", requires=("module", "tokenizer"),
               description="token attributions for a text classifier (option data=PATH)")


@task("explain_tabular")
def explain_tabular(data: Annotated[str, Option("a .csv/.jsonl of numeric feature columns")],
                    label_column: Annotated[str, Option("a column of data that is not a feature")] = "label",
                    n: N = DEFAULT_N, steps: Steps = DEFAULT_STEPS,
                    explainer: Annotated[str | None, Option("shap_kernel, shap_linear, shap_tree or captum_ig "
                                                            "(default: picked by model type)")] = None,
                    target_class: Annotated[int | None, Option("class index whose output is explained", min=0)] = None,
                    tol: Tol = DEFAULT_TOL, max_steps: MaxSteps = DEFAULT_MAX_STEPS) -> Job:
    """Feature attributions (SHAP Kernel/Linear/Tree) of a tabular model over a data file, with faithfulness."""
    from evalsuite.audits.explain.outputs import read_table

    _explainer(explainer, "tabular", steps, tol, max_steps)
    if not Path(data).is_file():
        raise UserError(f"data file '{data}' does not exist; check the path (data)")
    X, names, data_hash = read_table(data, label_column)

    def run(model, ctx):
        from evalsuite.audits.explain.api import explain_table
        from evalsuite.audits.explain.outputs import table_outcome

        count = _count(n, ctx.limit, len(X))
        attributions, rows = explain_table(model, X[:count], names, explainer=explainer, background=X,
                                           target_class=target_class, steps=steps, seed=ctx.seed, tol=tol,
                                           max_steps=max_steps)
        return table_outcome(ctx, attributions, rows, data_hash=data_hash,
                             details={"explainer": attributions[0].method, "features": names, "tol": tol,
                                      "max_steps": max_steps})

    return Job(run=run, category="explainability", requires=(),
               description="SHAP feature attributions for a tabular model (option data=PATH)")


def _output_problem(path: str | None, option: str) -> str | None:
    from evalsuite.config import writable_folder_problem

    if path is None:
        return None
    target = Path(path)
    if target.is_dir():
        return f"{option} '{path}' is a folder; pass a file path"
    return writable_folder_problem(target.parent if str(target.parent) else Path("."), option)


@task("explain_text")
def explain_text(text: Annotated[str, Option("the input: a language model's context, or a classifier's text")],
                 target: Annotated[str | None, Option("LM: the continuation to explain (required); classifier: a "
                                                      "label (default: the predicted class)")] = None,
                 explainer: TextExplainer = TEXT_DEFAULT, steps: Steps = DEFAULT_STEPS,
                 tol: Tol = DEFAULT_TOL, max_steps: MaxSteps = DEFAULT_MAX_STEPS,
                 html: Annotated[str | None, Option("also write the token heatmap page here")] = None,
                 json: Annotated[str | None, Option("also write the attribution and faithfulness as JSON here")] = None
                 ) -> Job:
    """Token attributions of one input (`evalsuite explain --text`), with faithfulness; heatmap and JSON."""
    _explainer(explainer, "text", steps, tol, max_steps)
    if not text.strip():
        raise UserError("text is empty; give the input to explain")
    problems = [p for p in (_output_problem(html, "html (--html)"), _output_problem(json, "json (--json)")) if p]
    if problems:
        raise UserError("; ".join(problems))

    def kind_of(model) -> str:
        from evalsuite.audits.explain.api import text_kind

        kind = text_kind(model)
        if kind == "lm" and not target:
            raise UserError("explaining a language model needs a context and its continuation (--text and "
                            "--target, or text= and target=)")
        return kind

    def run(model, ctx):
        from evalsuite.audits.explain.heatmap_html import page
        from evalsuite.records import atomic_write_json, atomic_write_text

        kind = kind_of(model)
        item = {"context": text, "continuation": target} if kind == "lm" else {"text": text, "label": target}
        outcome, attributions, rows = _text_outcome(model, ctx, [item], explainer=explainer, steps=steps, kind=kind,
                                                    tol=tol, max_steps=max_steps,
                                                    title=f"{getattr(model, 'name', 'model')}: {explainer}")
        explanation = {"model": getattr(model, "name", None), **attributions[0].to_json(), "faithfulness": rows[0]}
        atomic_write_json(Path(ctx.artifacts_dir) / EXPLANATION_FILE, explanation)
        outcome.artifacts["explanation"] = EXPLANATION_FILE
        if json:
            atomic_write_json(json, explanation)
        if html:
            atomic_write_text(html, page(attributions, title=f"{getattr(model, 'name', 'model')}: "
                                                             f"{attributions[0].method}"))
        return outcome

    return Job(run=run, category="explainability", requires=("module", "tokenizer"), check=kind_of,
                      description="token attributions of one input")
