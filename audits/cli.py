"""`evalsuite audit`: a classifier fairness audit on a csv/parquet table, written as a fairness record.

Everything is validated and computed before anything is written: a bad column, label or
model prints one line and exits 2 with no run folder and no results store touched. The
record then goes through `run_resolved`, so it lands in the same run folders and results
store as every other evaluation. Only argparse is imported at module level.
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    """Add `evalsuite audit` to the `evalsuite` parser."""
    p = subparsers.add_parser("audit", help="fairness audit of a classifier on tabular data",
                              description="Audit a classifier's decisions for group fairness (aif360 metrics, "
                              "per-group rates, intersectional groups, bootstrap CIs), optionally with "
                              "mitigations side by side; writes a fairness record.")
    p.add_argument("--model", help="sklearn:FILE, hf-classifier:PATH, torch:FILE, predictions:FILE (see "
                   "evalsuite list models); omit with --predictions")
    p.add_argument("--model-args", default="", help="adapter options as KEY=VALUE,... (e.g. column=pred)")
    p.add_argument("--predictions", help="a column of --data holding the decisions to audit (instead of --model)")
    p.add_argument("--data", required=True, help="the audited table (.csv or .parquet)")
    p.add_argument("--label", required=True, help="the true-label column")
    p.add_argument("--protected", required=True, help="protected attribute column(s), comma-separated; "
                   "two or more also give their intersection")
    p.add_argument("--privileged", action="append", default=[], metavar="COL=VAL",
                   help="the privileged value of a protected column (repeatable); default: the most "
                   "selected group")
    p.add_argument("--favorable", help="the favorable label value (required unless labels are 0/1)")
    p.add_argument("--features", help="feature columns given to the model, comma-separated (default: all "
                   "columns but the label, or those the estimator was fitted on)")
    p.add_argument("--text", help="text column for a text classifier (hf-classifier)")
    p.add_argument("--min-group-size", type=int, default=30, help="warn about groups with fewer rows")
    p.add_argument("--mitigate", default="", help="comma-separated: reweighing,thresholds")
    p.add_argument("--threshold-target", default="selection_rate", choices=("selection_rate", "tpr"),
                   help="what group thresholds equalize")
    p.add_argument("--train-data", help="training/calibration table for mitigations (default: a seeded "
                   "half of --data)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--output-dir", default="evalsuite-results", help="results root (records, store)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=_cmd_audit)


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _cmd_audit(args) -> int:
    from evalsuite.audits.tabular_audit import audit_classifier
    from evalsuite.task_types import load_table
    from evalsuite.cli import parse_key_values
    from evalsuite.errors import UserError

    if args.bootstrap < 1:
        raise UserError(f"--bootstrap must be a positive number of resamples, got {args.bootstrap}")
    if (args.model is None) == (args.predictions is None):
        raise UserError("give exactly one of --model SPEC or --predictions COLUMN")
    frame = load_table(args.data)
    train = load_table(args.train_data) if args.train_data else None
    echo = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    model = None
    if args.model is not None:
        from evalsuite.runner import resolve_model

        options = {"progress": not args.quiet, **parse_key_values(args.model_args)}
        model = resolve_model(args.model, options)
    # The audit is computed in full before anything is written, so a bad input leaves no trace.
    result = audit_classifier(model, frame, label=args.label, protected=_split(args.protected),
                              privileged=args.privileged, favorable=args.favorable,
                              features=_split(args.features) or None, text=args.text,
                              predictions=args.predictions, min_group_size=args.min_group_size,
                              mitigate=_split(args.mitigate), train=train, threshold_target=args.threshold_target,
                              n_resamples=args.bootstrap, seed=args.seed, echo=echo)
    summary = write_audit_record(result, model_spec=args.model or f"column:{args.predictions}",
                                 output_dir=args.output_dir, seed=args.seed, bootstrap=args.bootstrap,
                                 options={"data": args.data, "label": args.label, "protected": args.protected,
                                          "privileged": args.privileged, "mitigate": args.mitigate},
                                 echo=echo)
    print(f"run {summary['run_id']}  model {result.model_name}  rows {result.n}")
    print(result.table())
    for note in result.warnings:
        print(f"warning: {note}")
    print(f"records: {summary['path']}")
    return 0


def write_audit_record(result, *, model_spec: str, output_dir: str, seed: int = 1234, bootstrap: int = 1000,
                       options: dict | None = None, echo=print) -> dict:
    """Write a computed FairnessAudit as a fairness record (run folder + results store); returns the run summary."""
    from evalsuite.config import RunConfig
    from evalsuite.jobs import Job
    from evalsuite.runner import ResolvedTask, run_resolved

    job = Job(run=lambda _model, ctx: result.to_outcome(ctx.artifacts_dir), category="fairness",
              description="classifier fairness audit (evalsuite audit)", name="fairness_audit")
    config = RunConfig(model=model_spec, tasks=["fairness_audit"], output_dir=output_dir, seed=seed,
                       bootstrap_resamples=bootstrap, use_cache=False, progress=False, job_options=options or {})
    return run_resolved(_Audited(result), [ResolvedTask("fairness_audit", "native", spec=job)], config, echo=echo)


class _Audited:
    """The audited model as run_resolved sees it: a name and a fingerprint (the audit is already computed)."""

    def __init__(self, result):
        self.name = result.model_name
        self._fingerprint = result.model_fingerprint

    def fingerprint(self) -> dict:
        return self._fingerprint
