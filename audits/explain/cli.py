"""`evalsuite explain`: attributions for one input, or a recorded explanation run over a data file.

    evalsuite explain --model demo --text "Q: In which city does Porel Prantett live?\\nA:" --target " Lunport"
    evalsuite explain --model hf-classifier:PATH --text "a review" --explainer shap_partition_text --html out.html
    evalsuite explain --model hf-classifier:PATH --task explain_text_classifier --data texts.jsonl --n 50

Only argparse is imported here; the work happens in evalsuite.audits.explain.api and .tasks.
"""

from __future__ import annotations

TASKS = ("explain_demo_lm", "explain_text_classifier", "explain_tabular")


def register(subparsers) -> None:
    """Add `evalsuite explain` to the `evalsuite` parser."""
    p = subparsers.add_parser("explain", help="attribute a model's output to input tokens or features, "
                              "with faithfulness measured")
    p.add_argument("--model", required=True, help="'demo', a local folder, or ADAPTER:SPEC (hf-classifier:PATH, ...)")
    p.add_argument("--text", help="one input: an LM's context, or a classifier's text")
    p.add_argument("--target", help="LM: the continuation to explain (required); classifier: a label "
                   "(default: the predicted class)")
    p.add_argument("--task", choices=TASKS, help="instead of --text: a recorded run of an explanation task")
    p.add_argument("--data", help="data file for --task (.jsonl/.csv/...)")
    p.add_argument("--n", type=int, help="inputs to explain for --task (default 20)")
    p.add_argument("--explainer", help="captum_layer_ig (text default), captum_ig, captum_feature_ablation, "
                   "captum_shapley_sampling, shap_partition_text; tables: shap_kernel, shap_linear, shap_tree")
    p.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps (default 50)")
    p.add_argument("--html", help="write the token heatmap page here (one input)")
    p.add_argument("--json", help="write the attribution and faithfulness as JSON here (one input)")
    p.add_argument("--output-dir", default="evalsuite-results", help="results root for --task runs")
    p.add_argument("--device", help="cuda, cpu, ... (default: cuda when present)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=_cmd_explain)


def _cmd_explain(args) -> int:
    from evalsuite.errors import UserError

    if (args.text is None) == (args.task is None):
        raise UserError("pass exactly one of --text (one input) or --task (a recorded run over --data)")
    if args.steps < 1:
        raise UserError(f"--steps must be positive, got {args.steps}")
    if args.task:
        return _run_task(args)
    return _one_input(args)


def _one_input(args) -> int:
    from pathlib import Path

    from evalsuite.audits.explain.api import DEFAULT_TEXT_EXPLAINER, explain_text
    from evalsuite.audits.explain.attribution import get_explainer
    from evalsuite.errors import UserError
    from evalsuite.runner import resolve_model

    for out in (args.html, args.json):
        if out and not Path(out).resolve().parent.is_dir():
            raise UserError(f"cannot write '{out}': its folder does not exist")
    explainer = args.explainer or DEFAULT_TEXT_EXPLAINER
    get_explainer(explainer, "text")  # a typo fails before the model loads
    options = {"progress": not args.quiet, **({"device": args.device} if args.device else {})}
    model = resolve_model(args.model, options)
    attribution, row = explain_text(model, args.text, target=args.target, explainer=explainer, steps=args.steps,
                                    seed=args.seed)
    _print(attribution, row)
    if args.json:
        from evalsuite.records import atomic_write_json

        atomic_write_json(args.json, {"model": getattr(model, "name", args.model), **attribution.to_json(),
                                      "faithfulness": row})
    if args.html:
        from evalsuite.audits.explain.heatmap_html import page
        from evalsuite.records import atomic_write_text

        atomic_write_text(args.html, page([attribution], title=f"{getattr(model, 'name', args.model)}: "
                                          f"{attribution.method}"))
    return 0


def _print(attribution, row) -> None:
    print(f"{attribution.method}  target {attribution.target!r}  f(x) {attribution.output:.4f}  "
          f"f(baseline) {attribution.baseline_output:.4f}")
    fixed = set(range(len(attribution.tokens))) - set(attribution.positions)
    for p, token in enumerate(attribution.tokens):
        score = "   (fixed)" if p in fixed else f"{float(attribution.scores[p]):+10.4f}"
        print(f"  {score}  {token!r}")
    print("faithfulness (method | random attribution):")
    for name in ("comprehensiveness", "sufficiency", "deletion_auc", "insertion_auc", "infidelity"):
        print(f"  {name:18} {row[name]:+.4f} | {row['random_baseline_' + name]:+.4f}")
    if attribution.axiom:
        print(f"  {attribution.axiom}: {attribution.axiom_error:.3g}")


def _run_task(args) -> int:
    import sys

    from evalsuite.config import RunConfig
    from evalsuite.display import results_table
    from evalsuite.errors import UserError
    from evalsuite.records import read_record
    from evalsuite.registry import REGISTRY
    from evalsuite.runner import ResolvedTask, resolve_model, run_resolved

    if args.task != "explain_demo_lm" and not args.data:
        raise UserError(f"--task {args.task} needs --data PATH")
    if args.data:
        from pathlib import Path

        if not Path(args.data).is_file():
            raise UserError(f"--data '{args.data}' does not exist; check the path")
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be a positive number of inputs, got {args.n}")
    options = {"steps": args.steps, **{k: v for k, v in (("data", args.data), ("n", args.n),
                                                          ("explainer", args.explainer)) if v is not None}}
    if args.explainer:
        from evalsuite.audits.explain.attribution import get_explainer

        get_explainer(args.explainer, "tabular" if args.task == "explain_tabular" else "text")
    entry = REGISTRY.get("task", args.task)
    model = resolve_model(args.model, {"progress": not args.quiet, **({"device": args.device} if args.device
                                                                         else {})})
    config = RunConfig(model=args.model, tasks=[entry.name], output_dir=args.output_dir, seed=args.seed,
                       progress=not args.quiet, job_options=options)
    summary = run_resolved(model, [ResolvedTask(entry.name, "native", entry=entry)], config,
                           echo=lambda m: print(m, file=sys.stderr))
    print(f"run {summary['run_id']}  model {summary['model']}")
    print(results_table([read_record(p) for p in summary["records"].values()]))
    print(f"records: {summary['path']}")
    return 0
