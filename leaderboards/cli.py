"""Commands of the leaderboard subsystem: `evalsuite leaderboard build`, `evalsuite gate`, `evalsuite export`.

Registered as `command` plugins (evalsuite.registry); only argparse is used here, the work happens in
the handlers. Every input, numeric options included, is validated before anything is written; text from
records reaches the terminal through evalsuite.text.terminal_safe.
"""

from __future__ import annotations

import argparse
import os
import sys

from evalsuite.registry import command

RUN_HELP = "run id, unique prefix, 'latest', or model:NAME (newest record per task); repeat to merge runs"


def bounded_int(flag: str, low: int, high: int):
    """An argparse type: a whole number in [low, high]; anything else is one line naming the flag and range."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a whole number from {low:,} to {high:,}, "
                                             f"got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} must be from {low:,} to {high:,}, got {value:,}")
        return value

    parse.__name__ = flag  # argparse names the type in some messages
    return parse


@command("leaderboard", description="build the static leaderboard site (ranks with intervals, ties and coverage)")
def leaderboard_command(p):
    sub = p.add_subparsers(dest="leaderboard_command", metavar="build", required=True, parser_class=type(p))
    build = sub.add_parser("build", help="write index.html, leaderboard.json and a page per model")
    build.add_argument("--results", default="evalsuite-results", help="results folder (the --output-dir of run)")
    build.add_argument("--definition", default="default", help="leaderboard YAML file or packaged name")
    build.add_argument("--out", help="site folder (default: RESULTS/leaderboard)")
    build.set_defaults(leaderboard_handler=_cmd_build)
    return lambda args: args.leaderboard_handler(args)


@command("gate", description="check a candidate run against a release policy (exit 0 pass, 1 fail, 2 bad input)")
def gate_command(p):
    from evalsuite.config import MAX_SEED
    from evalsuite.leaderboards.policy import MAX_RESAMPLES, MIN_RESAMPLES

    p.add_argument("--policy", required=True, help="gate policy YAML")
    p.add_argument("--candidate", action="append", required=True, help=RUN_HELP)
    p.add_argument("--baseline", action="append", default=[], help=RUN_HELP + " (needed by regression rules)")
    p.add_argument("--results", default="evalsuite-results", help="results folder (the --output-dir of run)")
    p.add_argument("--junit", default="evalsuite-gate.xml", help="JUnit XML report path")
    p.add_argument("--markdown", default="evalsuite-gate.md",
                   help="Markdown summary path (also appended to $GITHUB_STEP_SUMMARY when set)")
    p.add_argument("--json", help="also write the full report as JSON here")
    p.add_argument("--seed", type=bounded_int("--seed", 0, MAX_SEED), default=0, help="seed of the paired bootstrap")
    p.add_argument("--resamples", type=bounded_int("--resamples", MIN_RESAMPLES, MAX_RESAMPLES), default=10_000,
                   help=f"paired bootstrap resamples of regression rules without their own "
                        f"({MIN_RESAMPLES}..{MAX_RESAMPLES:,}; default 10,000)")
    return _cmd_gate


@command("export", description="export results as a model card model-index or lm-eval JSON")
def export_command(p):
    p.add_argument("--format", required=True, choices=("model-index", "lm-eval"))
    p.add_argument("--run", action="append", required=True, help=RUN_HELP)
    p.add_argument("--results", default="evalsuite-results", help="results folder (the --output-dir of run)")
    p.add_argument("--task-type", default="text-generation", help="model-index task type (Hub task id)")
    p.add_argument("--out", help="output file (default: stdout)")
    return _cmd_export


def _cmd_build(args) -> int:
    from pathlib import Path

    from evalsuite.leaderboards.aggregate import ranking_text
    from evalsuite.leaderboards.definition import load_definition
    from evalsuite.leaderboards.results import open_store
    from evalsuite.leaderboards.site import build_site
    from evalsuite.text import terminal_safe

    definition = load_definition(args.definition)
    store = open_store(args.results)
    try:
        index, board = build_site(store, definition, args.out or Path(args.results) / "leaderboard",
                                  return_board=True)
    finally:
        store.close()
    print(ranking_text(board))
    print(f"leaderboard written: {terminal_safe(index)}")
    return 0


def _report_path_problems(args) -> list[str]:
    """Why a report could not be written (checked before the gate runs, so bad input writes nothing)."""
    from pathlib import Path

    from evalsuite.config import writable_folder_problem

    problems = []
    for flag, value in (("--junit", args.junit), ("--markdown", args.markdown), ("--json", args.json)):
        if not value:
            continue
        if Path(value).is_dir():
            problems.append(f"{flag} '{value}' is a folder; pass a file path")
            continue
        problem = writable_folder_problem(Path(value).parent, flag)
        if problem:
            problems.append(problem)
    return problems


def _cmd_gate(args) -> int:
    from pathlib import Path

    from evalsuite.errors import UserError
    from evalsuite.leaderboards.gate import evaluate_policy
    from evalsuite.leaderboards.policy import load_policy
    from evalsuite.leaderboards.reports import junit_xml, markdown_summary
    from evalsuite.leaderboards.results import open_store, select_records
    from evalsuite.records import atomic_write_json, atomic_write_text
    from evalsuite.text import terminal_safe

    policy = load_policy(args.policy)
    problems = _report_path_problems(args)
    if policy.needs_baseline and not args.baseline:
        problems.insert(0, f"policy '{args.policy}' has regression rules; pass --baseline RUN to compare against")
    if problems:
        raise UserError("; ".join(problems))
    store = open_store(args.results)
    try:
        candidate = select_records(store, args.candidate)
        baseline = select_records(store, args.baseline) if args.baseline else None
        report = evaluate_policy(policy, candidate, baseline, candidate_refs=args.candidate,
                                 baseline_refs=args.baseline, seed=args.seed, resamples=args.resamples)
    finally:
        store.close()
    summary = markdown_summary(report)
    atomic_write_text(args.junit, junit_xml(report))
    atomic_write_text(args.markdown, summary)
    if args.json:
        atomic_write_json(args.json, report.to_json())
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with Path(step_summary).open("a", encoding="utf-8") as fh:
            fh.write(summary)
    for result in report.results:
        print(terminal_safe(f"{'PASS' if result.passed else 'FAIL'}  {result.name}: {result.reason}"))
    print(terminal_safe(f"gate {'passed' if report.passed else 'FAILED'}: {sum(r.passed for r in report.results)}/"
                        f"{len(report.results)} rules; reports: {args.junit}, {args.markdown}"))
    return 0 if report.passed else 1


def _stdout_json(value) -> str:
    """JSON for a terminal: C1 control characters (e.g. U+009B, a one-byte CSI) escaped like C0 ones."""
    import json
    import re

    text = json.dumps(value, indent=2, ensure_ascii=False)
    return re.sub("[\x7f-\x9f\u2028\u2029]", lambda m: f"\\u{ord(m.group()):04x}", text)


def _cmd_export(args) -> int:
    import json

    from evalsuite.errors import UserError
    from evalsuite.leaderboards.export import lm_eval_results, model_card_header
    from evalsuite.leaderboards.results import load_samples, open_store, select_records
    from evalsuite.records import atomic_write_text
    from evalsuite.text import terminal_safe

    store = open_store(args.results)
    try:
        records = select_records(store, args.run)
    finally:
        store.close()
    models = sorted({r["model"] for r in records.values()})
    if len(models) != 1:
        raise UserError(f"the runs given hold records of {len(models)} models ({', '.join(models)}); "
                        "export one model at a time")
    if args.format == "model-index":
        text = model_card_header(models[0], records, task_type=args.task_type)
    elif args.out:
        text = json.dumps(lm_eval_results(models[0], records, load_samples), indent=2, ensure_ascii=False) + "\n"
    else:
        text = _stdout_json(lm_eval_results(models[0], records, load_samples)) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
        print(terminal_safe(f"{args.format} written: {args.out}"))
    else:
        sys.stdout.write(text)
    return 0
