"""`evalsuite audit`: a preset over `evalsuite.run()` with the `fairness_audit` task (a command plugin).

    evalsuite audit --model sklearn:screening.skops --data applicants.csv --label hired --protected sex,race
    evalsuite audit --predictions decision --data applicants.csv --label hired --protected sex

The handler only turns flags into a RunConfig: the record (`evalsuite/fairness_audit`), the
default seed (1234), the model factory, the results store and every error are those of
`evalsuite run --tasks fairness_audit`. `--predictions COL` audits a column of --data: the
model is the `predictions` adapter on the same table (`predictions:DATA` with column=COL).
Only argparse is imported at module level.
"""

from __future__ import annotations

from evalsuite.registry import command


@command("audit", description="fairness audit of a classifier on tabular data (aif360 metrics, per-group rates, "
         "intersectional groups, bootstrap CIs, mitigations side by side); writes a fairness record")
def audit_command(p):
    from evalsuite.commands import add_output_flags

    p.add_argument("--model", help="sklearn:FILE, hf-classifier:PATH, torch:FILE, predictions:FILE (see "
                   "evalsuite list models); omit with --predictions")
    p.add_argument("--model-args", action="append", default=[], metavar="KEY=VALUE,...",
                   help="model adapter options (e.g. allow_pickle=true; see: evalsuite describe MODEL)")
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
    p.add_argument("--threshold-target", default="selection_rate",
                   help="what group thresholds equalize: selection_rate or tpr")
    p.add_argument("--train-data", help="training/calibration table for mitigations (default: a seeded "
                   "half of --data)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    p.add_argument("--device", help="cuda, cpu, ... for model adapters that run a torch model")
    p.add_argument("--seed", type=int, default=1234)
    add_output_flags(p)
    return _audit


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _audit(args) -> int:
    from evalsuite.cli import key_values, run_and_report
    from evalsuite.config import RunConfig
    from evalsuite.errors import UserError

    if (args.model is None) == (args.predictions is None):
        raise UserError("give exactly one of --model SPEC or --predictions COLUMN")
    model_args = key_values(args.model_args, "--model-args")
    model = args.model
    if args.predictions is not None:
        model, model_args = f"predictions:{args.data}", {**model_args, "column": args.predictions}
    task_args = {"data": args.data, "label": args.label, "protected": _split(args.protected),
                 "privileged": list(args.privileged), "min_group_size": args.min_group_size,
                 "mitigate": _split(args.mitigate), "threshold_target": args.threshold_target}
    for key, value in (("favorable", args.favorable), ("features", _split(args.features) or None),
                       ("text", args.text), ("train_data", args.train_data)):
        if value is not None:
            task_args[key] = value
    config = RunConfig(model=model, tasks=["fairness_audit"], output_dir=args.output_dir, model_args=model_args,
                       task_args=task_args, device=args.device, seed=args.seed, bootstrap_resamples=args.bootstrap,
                       use_cache=False, progress=not args.quiet)
    return run_and_report(config, wide=args.wide)
