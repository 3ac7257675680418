"""The `evalsuite` command: parses options into a RunConfig and calls the library.

Errors the user can fix print one line and exit 2; anything else is a bug and
keeps its traceback. Nothing heavy is imported to print help or list plugins.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalsuite.errors import UserError

# What `evalsuite run` runs without --tasks: one task of every kind, sized for the demo model.
DEFAULT_SUITE = ("demo_facts_mc", "demo_story_mc", "demo_heldout_ppl", "demo_facts_gen",  # capability
                 "crows_pairs_builtin", "bbq_builtin", "counterfactual_gender", "pronoun_occupation_demo",  # fairness
                 "explain_demo_lm",  # explainability
                 "dp_finetune_audit")  # privacy

# Commands that live with their subsystem. Each module is light to import (argparse only) and defines
# `register(subparsers)`, which adds its parsers with `set_defaults(handler=fn)`; fn(args) -> exit code.
COMMAND_MODULES = ("evalsuite.audits.cli", "evalsuite.audits.explain.cli", "evalsuite.privacy.cli",
                   "evalsuite.leaderboards.cli")


def parse_key_values(text: str, flag: str = "--model-args") -> dict:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise UserError(f"{flag} item '{part}' is not KEY=VALUE; write e.g. key=value,other=2")
        out[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evalsuite", description="Evaluate a model on benchmark tasks, bias audits, "
                                "attributions and privacy jobs; results land in a local results store.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="evaluate a model on tasks")
    r.add_argument("--model", required=True, help="'demo', a local folder, a cached hub id, or ADAPTER:SPEC")
    r.add_argument("--tasks", default=",".join(DEFAULT_SUITE),
                   help="comma-separated task names (native or lm-eval); default: the built-in demo suite "
                   "(benchmarks, bias probes, an explanation, DP fine-tuning with its privacy audit)")
    r.add_argument("--tasks-path", action="append", default=[], help="folder of task files (.py or lm-eval YAML)")
    r.add_argument("--output-dir", default="evalsuite-results", help="results root (records, store, cache)")
    r.add_argument("--model-args", default="", help="adapter options as KEY=VALUE,...")
    r.add_argument("--task-args", default="", help="options for audit/explanation/privacy tasks as KEY=VALUE,...")
    r.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda when present)")
    r.add_argument("--dtype", help="float32, bfloat16, float16 (default: bf16 on CUDA, fp32 on CPU)")
    r.add_argument("--token-budget", type=int, help="padded tokens per forward batch")
    r.add_argument("--max-length", type=int, help="override the model's context length")
    r.add_argument("--trust-remote-code", action="store_true", help="allow model code from the model folder")
    r.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    r.add_argument("--seed", type=int, default=1234)
    r.add_argument("--no-cache", action="store_true", help="ignore and do not fill the request cache")
    r.add_argument("--quiet", action="store_true", help="no progress output")

    ls = sub.add_parser("list", help="list registered plugins")
    ls.add_argument("kind", nargs="?", help="task(s), model(s), metric(s), ...")

    sh = sub.add_parser("show", help="print a stored run again")
    sh.add_argument("run", nargs="?", default="latest", help="run id, unique prefix, or 'latest'")
    sh.add_argument("--output-dir", default="evalsuite-results")
    sh.add_argument("--list", action="store_true", help="list stored runs")

    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def _cmd_run(args) -> int:
    from evalsuite.config import RunConfig
    from evalsuite.display import results_table
    from evalsuite.records import read_record
    from evalsuite.runner import run

    if args.token_budget is not None and args.token_budget < 1:
        raise UserError(f"--token-budget must be positive, got {args.token_budget}")
    config = RunConfig(
        model=args.model, tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        tasks_path=args.tasks_path, output_dir=args.output_dir, model_args=parse_key_values(args.model_args),
        device=args.device, dtype=args.dtype, token_budget=args.token_budget, max_length=args.max_length,
        trust_remote_code=args.trust_remote_code, limit=args.limit, seed=args.seed, use_cache=not args.no_cache,
        progress=not args.quiet, job_options=parse_key_values(args.task_args, "--task-args"),
    )
    summary = run(config, echo=lambda m: print(m, file=sys.stderr))
    print(f"run {summary['run_id']}  model {summary['model']}")
    print(results_table([read_record(p) for p in summary["records"].values()]))
    print(f"records: {summary['path']}")
    return 0


def _cmd_list(args) -> int:
    from evalsuite.registry import KINDS, REGISTRY

    kind = (args.kind or "").rstrip("s") or None
    if kind is not None and kind not in KINDS:
        raise UserError(f"unknown kind '{args.kind}'; use one of: {', '.join(k + 's' for k in KINDS)}")
    for entry in REGISTRY.entries(kind):
        print(f"{entry.kind:8} {entry.name:32} {entry.description}")
    if kind in (None, "task"):
        print("(every lm-eval task also runs by name; add your own with --tasks-path DIR)")
    return 0


def _cmd_show(args) -> int:
    from evalsuite.display import results_table
    from evalsuite.records import read_record
    from evalsuite.store import ResultsStore

    db = Path(args.output_dir) / "index.sqlite"
    if not db.is_file():
        raise UserError(f"no results store at '{db}'; run an evaluation first or pass --output-dir")
    store = ResultsStore(db)
    try:
        if args.list:
            for row in store.runs():
                print(f"{row['run_id']}  {row['status']:9} {row['model']}")
            return 0
        row = store.find_run(args.run)
        print(f"run {row['run_id']}  model {row['model']}  status {row['status']}")
        print(results_table([read_record(r["path"]) for r in store.records_of(row["run_id"])]))
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        builtin = {"run": _cmd_run, "list": _cmd_list, "show": _cmd_show}
        handler = builtin.get(args.command) or args.handler
        return handler(args)
    except UserError as exc:
        print(f"evalsuite: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evalsuite: interrupted; finished work is cached, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
