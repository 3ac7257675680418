"""Commands of the leaderboard subsystem: `evalsuite leaderboard build`, `evalsuite gate`, `evalsuite export`.

Registered by evalsuite.cli.COMMAND_MODULES; only argparse is imported here,
the work happens in the handlers. Every input is validated before anything is
written.
"""

from __future__ import annotations

import os
import sys

RUN_HELP = "run id, unique prefix, 'latest', or model:NAME (newest record per task); repeat to merge runs"


def register(subparsers) -> None:
    """Add this subsystem's commands to the `evalsuite` parser."""
    lb = subparsers.add_parser("leaderboard", help="build the static leaderboard site")
    lb_sub = lb.add_subparsers(dest="leaderboard_command", required=True)
    build = lb_sub.add_parser("build", help="write index.html, leaderboard.json and a page per model")
    build.add_argument("--results", default="evalsuite-results", help="results folder (the --output-dir of run)")
    build.add_argument("--definition", default="default", help="leaderboard YAML file or packaged name")
    build.add_argument("--out", help="site folder (default: RESULTS/leaderboard)")
    build.set_defaults(handler=_cmd_build)

    gate = subparsers.add_parser("gate", help="check a candidate run against a release policy (exit 0 pass, 1 fail)")
    gate.add_argument("--policy", required=True, help="gate policy YAML")
    gate.add_argument("--candidate", action="append", required=True, help=RUN_HELP)
    gate.add_argument("--baseline", action="append", default=[], help=RUN_HELP + " (needed by regression rules)")
    gate.add_argument("--results", default="evalsuite-results", help="results folder (the --output-dir of run)")
    gate.add_argument("--junit", default="evalsuite-gate.xml", help="JUnit XML report path")
    gate.add_argument("--markdown", default="evalsuite-gate.md",
                      help="Markdown summary path (also appended to $GITHUB_STEP_SUMMARY when set)")
    gate.add_argument("--json", help="also write the full report as JSON here")
    gate.add_argument("--seed", type=int, default=0, help="seed of the paired bootstrap")
    gate.set_defaults(handler=_cmd_gate)

    export = subparsers.add_parser("export", help="export results as a model card model-index or lm-eval JSON")
    export.add_argument("--format", required=True, choices=("model-index", "lm-eval"))
    export.add_argument("--run", action="append", required=True, help=RUN_HELP)
    export.add_argument("--results", default="evalsuite-results", help="results folder (the --output-dir of run)")
    export.add_argument("--task-type", default="text-generation", help="model-index task type (Hub task id)")
    export.add_argument("--out", help="output file (default: stdout)")
    export.set_defaults(handler=_cmd_export)


def _cmd_build(args) -> int:
    from pathlib import Path

    from evalsuite.leaderboards.definition import load_definition
    from evalsuite.leaderboards.results import open_store
    from evalsuite.leaderboards.site import build_site

    definition = load_definition(args.definition)
    store = open_store(args.results)
    try:
        index = build_site(store, definition, args.out or Path(args.results) / "leaderboard")
    finally:
        store.close()
    print(f"leaderboard written: {index}")
    return 0


def _cmd_gate(args) -> int:
    from pathlib import Path

    from evalsuite.errors import UserError
    from evalsuite.leaderboards.gate import evaluate_policy
    from evalsuite.leaderboards.policy import load_policy
    from evalsuite.leaderboards.reports import junit_xml, markdown_summary
    from evalsuite.leaderboards.results import open_store, select_records
    from evalsuite.records import atomic_write_json, atomic_write_text

    policy = load_policy(args.policy)
    if policy.needs_baseline and not args.baseline:
        raise UserError(f"policy '{args.policy}' has regression rules; pass --baseline RUN to compare against")
    store = open_store(args.results)
    try:
        candidate = select_records(store, args.candidate)
        baseline = select_records(store, args.baseline) if args.baseline else None
        report = evaluate_policy(policy, candidate, baseline, candidate_refs=args.candidate,
                                 baseline_refs=args.baseline, seed=args.seed)
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
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}: {result.reason}")
    print(f"gate {'passed' if report.passed else 'FAILED'}: {sum(r.passed for r in report.results)}/"
          f"{len(report.results)} rules; reports: {args.junit}, {args.markdown}")
    return 0 if report.passed else 1


def _cmd_export(args) -> int:
    import json

    from evalsuite.errors import UserError
    from evalsuite.leaderboards.export import lm_eval_results, model_card_header
    from evalsuite.leaderboards.results import load_samples, open_store, select_records
    from evalsuite.records import atomic_write_text

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
    else:
        text = json.dumps(lm_eval_results(models[0], records, load_samples), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
        print(f"{args.format} written: {args.out}")
    else:
        sys.stdout.write(text)
    return 0
