"""Writing an explanation run's outputs: per-sample JSON, the HTML heatmap page, the importance plot,
and the JobOutcome (metrics with CIs, samples, artifacts) the runner records."""

from __future__ import annotations

import numpy as np

from evalsuite.jobs import JobOutcome

ATTRIBUTIONS_FILE, HEATMAP_FILE, IMPORTANCE_FILE = "attributions.json", "heatmap.html", "importance.png"


def _metrics(ctx, rows):
    from evalsuite.audits.explain.faithfulness import summarize

    return summarize(rows, resamples=ctx.bootstrap_resamples, seed=ctx.seed)


def _samples(attributions, rows):
    return [{"doc_id": i, "target": a.target, "output": a.output, "top": a.top_tokens(3), "scores": row}
            for i, (a, row) in enumerate(zip(attributions, rows))]


def text_outcome(ctx, items, attributions, rows, *, title: str, details: dict) -> JobOutcome:
    from evalsuite.audits.explain.heatmap_html import page
    from evalsuite.fingerprint import sha256_json
    from evalsuite.records import atomic_write_json, atomic_write_text

    metrics = _metrics(ctx, rows)
    atomic_write_json(ctx.artifacts_dir / ATTRIBUTIONS_FILE, [a.to_json() for a in attributions])
    atomic_write_text(ctx.artifacts_dir / HEATMAP_FILE, page(attributions, title=title, metrics=metrics))
    return JobOutcome(metrics=metrics, samples=_samples(attributions, rows), data_hash=sha256_json(items),
                      artifacts={"attributions": ATTRIBUTIONS_FILE, "heatmap": HEATMAP_FILE}, details=details)


def table_outcome(ctx, attributions, rows, *, data_hash: str, details: dict) -> JobOutcome:
    from evalsuite.audits.explain.importance_plot import global_importance, plot_importance
    from evalsuite.records import atomic_write_json

    metrics = _metrics(ctx, rows)
    importance = global_importance(attributions)
    atomic_write_json(ctx.artifacts_dir / ATTRIBUTIONS_FILE, [a.to_json() for a in attributions])
    plot_importance(importance, ctx.artifacts_dir / IMPORTANCE_FILE,
                    title=f"{attributions[0].method}: mean |attribution| ({attributions[0].target})")
    return JobOutcome(metrics=metrics, samples=_samples(attributions, rows), data_hash=data_hash,
                      artifacts={"attributions": ATTRIBUTIONS_FILE, "importance_plot": IMPORTANCE_FILE},
                      # A list, not a dict: records are written with sorted keys, which would lose the ranking.
                      details={**details, "global_importance": [{"feature": k, "mean_abs_attribution": v}
                                                                 for k, v in importance.items()]})


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
