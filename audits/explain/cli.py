"""`evalsuite explain`: a preset over `evalsuite.run()` with an explanation task (a command plugin).

    evalsuite explain --model demo --text "Q: In which city does Porel Prantett live?\\nA:" --target " Lunport"
    evalsuite explain --model hf-classifier:PATH --text "a review" --explainer shap_partition_text --html out.html
    evalsuite explain --model hf-classifier:PATH --task explain_text_classifier --data texts.jsonl --n 50

One input (--text) runs the `explain_text` task: a record like any other run's (same seed, model
factory, store and errors, so a single explanation is reproducible and can be found again with
`evalsuite show`), whose heatmap page and attribution JSON are also written to --html/--json.
--task runs that explanation task over --data. Only argparse is imported here.
"""

from __future__ import annotations

from evalsuite.registry import command

TASKS = ("explain_demo_lm", "explain_text_classifier", "explain_tabular")


@command("explain", description="attribute a model's output to input tokens or features, with faithfulness "
         "measured; one input (--text) or an explanation task over a data file (--task)")
def explain_command(p):
    from evalsuite.commands import add_output_flags

    p.add_argument("--model", required=True, help="'demo', a local folder, or ADAPTER:SPEC (hf-classifier:PATH, ...)")
    p.add_argument("--model-args", action="append", default=[], metavar="KEY=VALUE,...",
                   help="model adapter options (see: evalsuite describe MODEL)")
    p.add_argument("--text", help="one input: an LM's context, or a classifier's text")
    p.add_argument("--target", help="LM: the continuation to explain (required); classifier: a label "
                   "(default: the predicted class)")
    p.add_argument("--task", choices=TASKS, help="instead of --text: an explanation task over --data")
    p.add_argument("--data", help="data file for --task (.jsonl/.csv/...)")
    p.add_argument("--n", type=int, help="inputs to explain for --task (default 20)")
    p.add_argument("--explainer", help="captum_layer_ig (text default), captum_ig, captum_feature_ablation, "
                   "captum_shapley_sampling, shap_partition_text; tables: shap_kernel, shap_linear, shap_tree")
    p.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps of the first rule (default 50)")
    p.add_argument("--tol", type=float, help="relative completeness tolerance that Integrated Gradients refines "
                   "its path to meet (default 1e-3)")
    p.add_argument("--max-steps", type=int, help="cap on Integrated Gradients gradient evaluations per input; "
                   "inputs not converged by then are marked (default 2000)")
    p.add_argument("--html", help="write the token heatmap page here (one input)")
    p.add_argument("--json", help="write the attribution and faithfulness as JSON here (one input)")
    p.add_argument("--device", help="cuda, cpu, ... (default: cuda when present)")
    p.add_argument("--dtype", help="float32, bfloat16, float16 (default: bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--seed", type=int, default=1234)
    add_output_flags(p)
    return _explain


def _explain(args) -> int:
    from evalsuite.cli import key_values, run_and_report
    from evalsuite.config import RunConfig
    from evalsuite.errors import UserError

    if (args.text is None) == (args.task is None):
        raise UserError("pass exactly one of --text (one input) or --task (an explanation task over --data)")
    if args.text is not None:
        extra = [flag for flag, value in (("--data", args.data), ("--n", args.n)) if value is not None]
        if extra:
            raise UserError(f"{', '.join(extra)} only apply with --task; drop them for one --text input")
        task = "explain_text"
        options = {"text": args.text, "target": args.target, "html": args.html, "json": args.json}
    else:
        extra = [flag for flag, value in (("--target", args.target), ("--html", args.html), ("--json", args.json))
                 if value is not None]
        if extra:
            raise UserError(f"{', '.join(extra)} only apply to one --text input; drop them with --task")
        if args.task != "explain_demo_lm" and not args.data:
            raise UserError(f"--task {args.task} needs --data PATH")
        task = args.task
        options = {"data": args.data, "n": args.n}
    options.update(explainer=args.explainer, steps=args.steps, tol=args.tol, max_steps=args.max_steps)
    config = RunConfig(model=args.model, tasks=[task], output_dir=args.output_dir,
                       model_args=key_values(args.model_args, "--model-args"),
                       task_args={k: v for k, v in options.items() if v is not None}, device=args.device,
                       dtype=args.dtype, seed=args.seed, progress=not args.quiet)
    # One input: every faithfulness metric is the point, so the table lists them all.
    return run_and_report(config, wide=args.wide or args.text is not None)
