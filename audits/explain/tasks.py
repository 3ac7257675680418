"""Explanation tasks (Jobs, category "explainability"): attributions for a dataset with faithfulness metrics.

- explain_demo_lm: the demo-world fact questions; the continuation (the answer) log-probability is
  explained over the question's tokens (BOS fixed), LayerIntegratedGradients by default.
- explain_text_classifier: texts from a data file (option `data`, field `text_field`), the predicted
  class's probability explained.
- explain_tabular: rows of a data file (option `data`, the `label_column` dropped) for an estimator,
  the SHAP explainer picked by model type unless `explainer` is given; writes a global importance plot.

Options (ctx.options, e.g. from `evalsuite explain-run` or RunConfig.job_options): explainer, n (inputs;
--limit also caps), steps (IG steps), data, text_field, label_column, target_class.
Every run records the method's faithfulness and a random attribution's on the same inputs.
"""

from __future__ import annotations

from evalsuite.jobs import Job
from evalsuite.registry import task

DEFAULT_N = 20


def _count(ctx, available: int) -> int:
    n = int(ctx.options.get("n", DEFAULT_N))
    if ctx.limit:
        n = min(n, ctx.limit)
    if n < 1:
        from evalsuite.errors import UserError

        raise UserError(f"option n must be a positive number of inputs, got {n}")
    return min(n, available)


def _text_outcome(model, ctx, items, *, title: str, kind: str):
    from evalsuite.audits.explain.api import DEFAULT_TEXT_EXPLAINER, explain_texts
    from evalsuite.audits.explain.outputs import text_outcome

    explainer = ctx.options.get("explainer", DEFAULT_TEXT_EXPLAINER)
    steps = int(ctx.options.get("steps", 50))
    progress = (lambda i, n: ctx.echo(f"  explained {i}/{n}")) if ctx.progress else None
    attributions, rows = explain_texts(model, items, explainer=explainer, steps=steps, seed=ctx.seed, kind=kind,
                                       progress=progress)
    return text_outcome(ctx, items, attributions, rows, title=title,
                        details={"explainer": explainer, "steps": steps, "objective": kind})


def _explain_demo_lm(model, ctx):
    from evalsuite.task_types import load_records
    from evalsuite.tasks import DATA

    docs = load_records(ctx.options.get("data", DATA / "demo_facts_gen.jsonl"))
    items = [{"context": d["prompt"], "continuation": " " + str(d["answer"]).strip()} for d in docs]
    items = items[:_count(ctx, len(items))]
    return _text_outcome(model, ctx, items, title="Demo LM: which question tokens support the answer",
                         kind="lm")


def _explain_text_classifier(model, ctx):
    from evalsuite.errors import UserError
    from evalsuite.task_types import load_records

    if "data" not in ctx.options:
        raise UserError("explain_text_classifier needs option data=PATH (a .jsonl/.csv with a 'text' field)")
    field = ctx.options.get("text_field", "text")
    docs = load_records(ctx.options["data"])
    if not docs or any(field not in d for d in docs):
        raise UserError(f"data file '{ctx.options['data']}' needs a '{field}' field on every row "
                        "(set option text_field)")
    items = [{"text": str(d[field])} for d in docs][:_count(ctx, len(docs))]
    return _text_outcome(model, ctx, items, title="Text classifier: which tokens support the predicted class",
                         kind="classifier")


def _explain_tabular(model, ctx):
    from evalsuite.audits.explain.api import explain_table
    from evalsuite.audits.explain.outputs import table_outcome, read_table

    X, names, data_hash = read_table(ctx.options, ctx.options.get("label_column", "label"))
    n = _count(ctx, len(X))
    explainer = ctx.options.get("explainer")
    target_class = ctx.options.get("target_class")
    attributions, rows = explain_table(model, X[:n], names, explainer=explainer, background=X,
                                       target_class=None if target_class is None else int(target_class),
                                       steps=int(ctx.options.get("steps", 50)), seed=ctx.seed)
    return table_outcome(ctx, attributions, rows, data_hash=data_hash,
                         details={"explainer": attributions[0].method, "features": names})


@task("explain_demo_lm")
def explain_demo_lm() -> Job:
    """Token attributions of the demo LM's answers to fact questions, with faithfulness metrics."""
    return Job(run=_explain_demo_lm, category="explainability", requires=("module", "tokenizer"),
               description="LayerIG (or any text explainer) on the demo world's fact answers")


@task("explain_text_classifier")
def explain_text_classifier() -> Job:
    """Token attributions of a text classifier's predicted class over a data file, with faithfulness."""
    return Job(run=_explain_text_classifier, category="explainability", requires=("module", "tokenizer"),
               description="token attributions for a text classifier (option data=PATH)")


@task("explain_tabular")
def explain_tabular() -> Job:
    """Feature attributions (SHAP Kernel/Linear/Tree) of a tabular model over a data file, with faithfulness."""
    return Job(run=_explain_tabular, category="explainability", requires=(),
               description="SHAP feature attributions for a tabular model (option data=PATH)")
