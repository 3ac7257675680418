"""Writing an explanation run's outputs: per-sample JSON, the HTML heatmap page, the importance plot,
and the JobOutcome (metrics with CIs, samples, artifacts) the runner records.

Inputs whose explainer's own axiom check failed (IG completeness after the step cap, SHAP
additivity) are never silent: each sample says so (`axiom_holds`, `relative_gap`, `steps`), the
record counts them and gives the worst relative gap (metrics `ig_unconverged` and
`ig_worst_relative_gap`, or the SHAP twins) with the failing doc ids in `details["completeness"]`,
the one-row terminal table shows the failure count instead of the usual headline when there
are any, and the heatmap marks those inputs.
"""

from __future__ import annotations

import numpy as np

from evalsuite.audits.explain.attribution import AXIOM_IG_DELTA, AXIOM_SHAP_ADDITIVITY
from evalsuite.jobs import JobOutcome

ATTRIBUTIONS_FILE, HEATMAP_FILE, IMPORTANCE_FILE = "attributions.json", "heatmap.html", "importance.png"


def _metrics(ctx, rows):
    from evalsuite.audits.explain.faithfulness import summarize

    return summarize(rows, resamples=ctx.bootstrap_resamples, seed=ctx.seed)


AXIOM_METRICS = {AXIOM_IG_DELTA: ("ig_unconverged", "ig_worst_relative_gap"),
                 AXIOM_SHAP_ADDITIVITY: ("shap_additivity_failures", "shap_worst_relative_additivity_error")}


def _samples(attributions, rows):
    return [{"doc_id": i, "target": a.target, "output": a.output, "top": a.top_tokens(3), "scores": row,
             "axiom_holds": a.axiom_holds, "relative_gap": a.relative_gap(), "steps": a.steps}
            for i, (a, row) in enumerate(zip(attributions, rows))]


def completeness(attributions) -> tuple[dict, dict, str | None]:
    """Metrics, a details entry and a headline override for the inputs whose axiom check failed."""
    from evalsuite.records import metric_entry
    from evalsuite.task_types import LOWER

    checked = [(i, a) for i, a in enumerate(attributions) if a.axiom_holds is not None]
    if not checked:
        return {}, {}, None
    axiom = checked[0][1].axiom
    count_name, gap_name = AXIOM_METRICS.get(axiom, ("axiom_failures", "axiom_worst_relative_gap"))
    failed = [i for i, a in checked if not a.axiom_holds]
    gaps = [a.relative_gap() for _, a in checked]
    steps = [a.steps for _, a in checked if a.steps is not None]
    metrics = {count_name: metric_entry(len(failed), LOWER.to_json(), None, "none", len(checked)),
               gap_name: metric_entry(max(gaps), LOWER.to_json(), None, "none", len(checked))}
    details = {"axiom": axiom, "inputs": len(checked), "failures": len(failed), "failed_doc_ids": failed,
               "worst_relative_gap": max(gaps), "worst_gap": max(float(a.axiom_error) for _, a in checked),
               "baseline": checked[0][1].baseline}
    if steps:
        details["steps"] = {"min": min(steps), "mean": float(np.mean(steps)), "max": max(steps)}
    return metrics, {"completeness": details}, count_name if failed else None


def text_outcome(ctx, items, attributions, rows, *, title: str, details: dict) -> JobOutcome:
    from evalsuite.audits.explain.heatmap_html import page
    from evalsuite.fingerprint import sha256_json
    from evalsuite.records import atomic_write_json, atomic_write_text

    extra_metrics, extra_details, headline = completeness(attributions)
    metrics = {**_metrics(ctx, rows), **extra_metrics}
    atomic_write_json(ctx.artifacts_dir / ATTRIBUTIONS_FILE, [a.to_json() for a in attributions])
    atomic_write_text(ctx.artifacts_dir / HEATMAP_FILE, page(attributions, title=title, metrics=metrics))
    return JobOutcome(metrics=metrics, samples=_samples(attributions, rows), data_hash=sha256_json(items),
                      artifacts={"attributions": ATTRIBUTIONS_FILE, "heatmap": HEATMAP_FILE},
                      details={**details, **extra_details}, headline=headline)


def table_outcome(ctx, attributions, rows, *, data_hash: str, details: dict) -> JobOutcome:
    from evalsuite.audits.explain.importance_plot import global_importance, plot_importance
    from evalsuite.records import atomic_write_json

    extra_metrics, extra_details, headline = completeness(attributions)
    metrics = {**_metrics(ctx, rows), **extra_metrics}
    importance = global_importance(attributions)
    atomic_write_json(ctx.artifacts_dir / ATTRIBUTIONS_FILE, [a.to_json() for a in attributions])
    plot_importance(importance, ctx.artifacts_dir / IMPORTANCE_FILE,
                    title=f"{attributions[0].method}: mean |attribution| ({attributions[0].target})")
    return JobOutcome(metrics=metrics, samples=_samples(attributions, rows), data_hash=data_hash,
                      artifacts={"attributions": ATTRIBUTIONS_FILE, "importance_plot": IMPORTANCE_FILE},
                      # A list, not a dict: records are written with sorted keys, which would lose the ranking.
                      details={**details, **extra_details, "global_importance": [
                          {"feature": k, "mean_abs_attribution": v} for k, v in importance.items()]},
                      headline=headline)


def read_table(path: str, label_column: str):
    """Numeric feature matrix, feature names and data hash of a data file (label column dropped)."""
    from evalsuite.errors import UserError
    from evalsuite.fingerprint import sha256_json
    from evalsuite.task_types import load_records

    docs = load_records(path)
    if not docs:
        raise UserError(f"data file '{path}' has no rows")
    names = [k for k in docs[0] if k != label_column]
    try:
        X = np.array([[float(d[k]) for k in names] for d in docs], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"data file '{path}' needs numeric feature columns on every row ({exc}); "
                        f"drop text columns or set label_column") from None
    return X, names, sha256_json(docs)
