"""The `evalsuite` command: a thin shell over the library.

Every subcommand is a `command` plugin (first-party ones in evalsuite/commands.py and
the subsystems, third-party ones through the same entry-point group): it adds its
arguments to its own parser and returns a handler that builds a RunConfig and calls
`run()`. Errors the user can fix — a usage error included — print one line and exit 2;
anything else is a bug and keeps its traceback. Nothing heavy is imported to print help.
"""

from __future__ import annotations

import argparse
import sys

from evalsuite.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (not the whole usage block) and exit 2."""

    def error(self, message: str):
        raise UserError(f"{message} (see: {self.prog} --help)")


def key_values(items: list[str] | str | None, flag: str) -> dict:
    """`--task-args`/`--model-args` items (`[SCOPE:]KEY=VALUE,...`, the flag repeatable) as a dict."""
    from evalsuite.options import split_items

    out = {}
    for text in [items] if isinstance(items, str) else (items or []):
        try:
            for scope, key, value in split_items(text, flag):
                out[f"{scope}:{key}" if scope else key] = value
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return out


def build_parser() -> argparse.ArgumentParser:
    from evalsuite.registry import REGISTRY

    p = _Parser(prog="evalsuite", description="Evaluate a model on benchmark tasks, bias audits, attributions "
                "and privacy jobs; results land in a local results store.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    entries = REGISTRY.entries("command")
    shorts = [e.short_name for e in entries]
    for entry in sorted(entries, key=lambda e: (e.short_name != "run", e.short_name)):
        name = entry.short_name if shorts.count(entry.short_name) == 1 else entry.name
        parser = sub.add_parser(name, help=entry.description, description=entry.description)
        handler = entry.obj(parser)
        if not callable(handler):
            raise UserError(f"command '{entry.name}' (plugin '{entry.plugin}') returned no handler; "
                            "its configure function must return handler(args) -> exit code")
        parser.set_defaults(handler=handler)
    return p


def run_and_report(config, *, wide: bool = False) -> int:
    """Run `config` and print its results table: what `evalsuite run` and every preset command do."""
    from evalsuite.display import results_table
    from evalsuite.records import read_record
    from evalsuite.runner import run
    from evalsuite.text import terminal_safe

    summary = run(config)
    print(f"run {summary['run_id']}  model {terminal_safe(summary['model'])}")
    records = [read_record(p) for p in summary["records"].values()]
    print(results_table(records, wide=wide))
    print(f"records: {summary['path']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UserError as exc:
        from evalsuite.text import terminal_safe

        print(f"evalsuite: error: {terminal_safe(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evalsuite: interrupted; finished work is cached, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
