"""evalsuite's own commands (`run`, `list`, `describe`, `show`, `index`), registered as `command` plugins.

Each configure function only adds arguments; its handler imports the library when it runs.
"""

from __future__ import annotations

from evalsuite.registry import command

# What `evalsuite run` runs without --tasks: one task of every kind, sized for the demo model.
DEFAULT_SUITE = ("demo_facts_mc", "demo_story_mc", "demo_heldout_ppl", "demo_facts_gen",  # capability
                 "crows_pairs_builtin", "bbq_builtin", "counterfactual_gender", "pronoun_occupation_demo",  # fairness
                 "explain_demo_lm",  # explainability
                 "dp_finetune_audit")  # privacy


def add_output_flags(p, *, run: bool = True) -> None:
    """--output-dir (and, for commands that run, --quiet and --wide): the same in every command."""
    p.add_argument("--output-dir", default="evalsuite-results", help="results folder (records, store, cache)")
    if run:
        p.add_argument("--quiet", action="store_true", help="print only errors and the results")
        p.add_argument("--wide", action="store_true", help="every metric in the results table, not one per task")


@command("run", description="evaluate a model on tasks (benchmarks, audits, explanations, privacy jobs)")
def run_command(p):
    p.add_argument("--model", required=True, help="'demo', a local folder, a cached hub id, or ADAPTER:SPEC")
    p.add_argument("--tasks", default=",".join(DEFAULT_SUITE),
                   help="comma-separated task names (native or lm-eval); default: the built-in demo suite "
                   "(benchmarks, bias probes, an explanation, DP fine-tuning with its privacy audit)")
    p.add_argument("--tasks-path", action="append", default=[], help="folder of task files (.py or lm-eval YAML)")
    p.add_argument("--model-args", action="append", default=[], metavar="KEY=VALUE,...",
                   help="model adapter options (see: evalsuite describe MODEL)")
    p.add_argument("--task-args", action="append", default=[], metavar="[TASK:]KEY=VALUE,...",
                   help="task options; TASK:KEY scopes one to one task (see: evalsuite describe TASK)")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda when present)")
    p.add_argument("--dtype", help="float32, bfloat16, float16 (default: bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--token-budget", type=int, help="padded tokens per forward batch")
    p.add_argument("--max-length", type=int, help="override the model's context length")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the model folder")
    p.add_argument("--variant", help="evaluate a variant of the model: int8-dynamic, bf16, prune:0.3, ... "
                   "(see: evalsuite list variants)")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--bootstrap-resamples", type=int, default=1000, help="resamples for bootstrap CIs")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not fill the request cache")
    p.add_argument("--perturb", action="append", default=[], metavar="NAME[:VALUE],...",
                   help="also evaluate each task on perturbed prompts and report robustness: typo:0.05, lowercase, "
                   "uppercase, contraction, whitespace, punctuation; counterfactual fairness: gender-swap, "
                   "name-swap (see: evalsuite list perturbations, docs/robustness.md)")
    add_output_flags(p)
    return _run


def _run(args) -> int:
    from evalsuite.cli import key_values, run_and_report
    from evalsuite.config import RunConfig

    config = RunConfig(
        model=args.model, tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        tasks_path=args.tasks_path, output_dir=args.output_dir,
        model_args=key_values(args.model_args, "--model-args"), task_args=key_values(args.task_args, "--task-args"),
        device=args.device, dtype=args.dtype, token_budget=args.token_budget, max_length=args.max_length,
        trust_remote_code=args.trust_remote_code, variant=args.variant, limit=args.limit, seed=args.seed,
        bootstrap_resamples=args.bootstrap_resamples, use_cache=not args.no_cache, progress=not args.quiet,
        perturb=args.perturb)
    return run_and_report(config, wide=args.wide)


@command("list", description="list registered plugins (tasks, models, metrics, explainers, commands, ...)")
def list_command(p):
    p.add_argument("kind", nargs="?", help="task(s), model(s), metric(s), ...")
    return _list


def _list(args) -> int:
    from evalsuite.errors import UserError
    from evalsuite.registry import KINDS, REGISTRY
    from evalsuite.text import terminal_safe

    kind = (args.kind or "").rstrip("s") or None
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown kind '{args.kind}'; use one of: {', '.join(k + 's' for k in KINDS)}")
    for entry in REGISTRY.entries(kind):
        print(terminal_safe(f"{entry.kind:8} {entry.name:32} {entry.description}"))
    if kind in (None, "task"):
        print("(every lm-eval task also runs by name; add your own with --tasks-path DIR; "
              "a task's options: evalsuite describe TASK)")
    return 0


@command("describe", description="show a task's or a model adapter's options: types, defaults, bounds, help")
def describe_command(p):
    p.add_argument("name", help="a task or model adapter name (see: evalsuite list)")
    p.add_argument("--tasks-path", action="append", default=[], help="folder of task files")
    return _describe


def _describe(args) -> int:
    from evalsuite.errors import UserError, suggest
    from evalsuite.options import declared_options
    from evalsuite.registry import REGISTRY
    from evalsuite.text import terminal_safe

    for folder in args.tasks_path:
        REGISTRY.load_path(folder, names=[args.name])
    found = [(kind, REGISTRY.find(kind, args.name)) for kind in ("task", "model", "perturbation")]
    found = [(kind, e) for kind, e in found if e is not None]
    if not found:
        known = [e.name for e in REGISTRY.entries("task") + REGISTRY.entries("model")]
        raise UserError(f"no task or model '{args.name}'.{suggest(args.name, known)} (see: evalsuite list)")
    for kind, entry in found:
        specs = declared_options(entry.obj, skip=("spec",))
        flag = "--task-args" if kind == "task" else "--model-args"
        print(terminal_safe(f"{kind} {entry.name}: {entry.description}"))
        public = [s for s in specs.values() if not s.meta.internal]
        if not public:
            print("  (no options)")
        for s in public:
            print("  " + terminal_safe(s.describe()))
        if public and kind == "perturbation":
            print(f"  pass as --perturb {entry.short_name}:VALUE (its one option)")
        elif public:
            print(f"  pass as {flag} KEY=VALUE,... (lists: items separated by '|')")
    return 0


@command("show", description="print a stored run again, or list the stored runs")
def show_command(p):
    p.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or 'latest'")
    p.add_argument("--list", action="store_true", help="list stored runs")
    add_output_flags(p, run=False)
    p.add_argument("--wide", action="store_true", help="every metric, not one per task")
    return _show


def _show(args) -> int:
    from evalsuite.display import results_table
    from evalsuite.leaderboards.results import open_store, records_of_run
    from evalsuite.text import terminal_safe

    store = open_store(args.output_dir)
    try:
        if args.list:
            for row in store.runs():
                print(terminal_safe(f"{row['run_id']}  {row['status']:11} {row['model']}"))
            return 0
        row = store.find_run(args.run)
        records = list(records_of_run(store, row["run_id"]).values())
        print(terminal_safe(f"run {row['run_id']}  model {row['model']}  status {row['status']}"))
        print(results_table(records, wide=args.wide))
    finally:
        store.close()
    return 0


@command("index", description="rebuild a results folder's index (index.sqlite) from the records on disk")
def index_command(p):
    p.add_argument("action", choices=["rebuild"], help="rebuild: recreate index.sqlite from run.json/record.json")
    add_output_flags(p, run=False)
    return _index


def _index(args) -> int:
    from evalsuite.store import rebuild_index

    n = rebuild_index(args.output_dir)
    print(f"index rebuilt: {n} records indexed in {args.output_dir}")
    return 0
