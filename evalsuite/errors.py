"""Two tiers of errors.

`UserError` is anything the person running evalsuite can fix (a typo in a task
name, a missing file, a missing optional extra): the CLI prints its one-line
message and exits 2 with no traceback. Everything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 2


class PluginError(UserError):
    """A plugin failed validation; the message names the plugin."""


class MissingDependency(UserError):
    """An optional dependency is not installed; the message names the extra."""


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ' Did you mean ...?' for close matches of `name`, or ''."""
    pool = list(candidates)
    short = {c.split("/", 1)[-1]: c for c in pool}
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    close += [short[c] for c in difflib.get_close_matches(name, list(short), n=n, cutoff=0.6)]
    close = list(dict.fromkeys(close))[:n]
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def require(module: str, extra: str):
    """Import an optional dependency or raise a MissingDependency naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"'{module}' is not installed ({exc}); install it with: pip install 'evalsuite[{extra}]'"
        ) from None
