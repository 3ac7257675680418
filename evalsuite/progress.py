"""What a run prints besides its results: one progress mechanism, and quiet meaning quiet.

The runner enters `output(quiet)` once for the whole run. Inside it:

- `bar(...)` is the one way evalsuite shows progress (tqdm on stderr; hidden when quiet,
  when the adapter asked for no progress, or when stderr is not a terminal, so logs and
  CI output carry no bar residue);
- `log(message)` writes a progress line through `tqdm.write`, so bars and lines never
  interleave (nothing when quiet);
- always, even with progress on: every library's tqdm bar (lm-eval's, datasets', ...) only
  on a terminal, transformers' bars cleared when done, no "Writing model shards" bar from
  `save_pretrained`, and no "fatal: not a git repository" from lm-eval's git-hash lookup;
- when quiet: every tqdm bar, transformers', datasets', huggingface_hub's, lm-eval's and
  Opacus' logging below ERROR, and Python warnings are silenced, so stderr carries
  errors only.

Everything is restored when the block exits. Libraries imported during the run are
covered too: quiet settings travel as environment variables their logging reads at
import, and adapters call `attach("transformers")` / `attach("lm_eval")` after importing
them, which applies the run's rules to that library until the run ends.
`EVALSUITE_QUIET=1` in the environment makes every run quiet (the test suite sets it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Loggers of the libraries a run drives; quiet lifts each to ERROR (the root logger too,
# for libraries that log through Python's last-resort handler).
_LIBRARY_LOGGERS = ("transformers", "datasets", "huggingface_hub", "lm_eval", "lm-eval", "opacus", "accelerate",
                    "evaluate", "torch", "sentence_transformers", "captum", "shap", "fairlearn", "aif360",
                    "urllib3", "filelock", "fsspec", "numexpr")
# Read by those libraries when they are first imported (restored afterwards).
_QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "DATASETS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
              "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "LMEVAL_LOG_LEVEL": "ERROR"}
_HIDDEN_BARS = ("Writing model shards",)  # bookkeeping bars no user needs, even with progress on


@dataclass
class _Frame:
    quiet: bool
    stack: contextlib.ExitStack
    attached: set = field(default_factory=set)


_frames: list[_Frame] = []


def _env_quiet() -> bool:
    return os.environ.get("EVALSUITE_QUIET") == "1"


def enabled() -> bool:
    """Whether progress output is on (off inside `output(quiet=True)` or with EVALSUITE_QUIET=1)."""
    if _env_quiet():
        return False
    return not _frames[-1].quiet if _frames else True


def bar(iterable: Iterable | None = None, total: int | None = None, desc: str | None = None, *,
        show: bool = True, unit: str = "it", leave: bool = False, **kwargs):
    """A tqdm bar on stderr, shown only when progress is on, `show` is true and stderr is a terminal."""
    from tqdm.auto import tqdm

    disable = None if (show and enabled()) else True  # None: tqdm hides itself when stderr is not a TTY
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=disable, file=sys.stderr,
                dynamic_ncols=True, **kwargs)


def log(message: str) -> None:
    """A progress line on stderr, written between bars (nothing when quiet)."""
    if not enabled():
        return
    from tqdm import tqdm

    tqdm.write(str(message), file=sys.stderr)


@contextlib.contextmanager
def output(quiet: bool) -> Iterator[None]:
    """The output rules of one run (see the module docstring); restores everything on exit."""
    with contextlib.ExitStack() as stack:
        frame = _Frame(quiet=bool(quiet) or _env_quiet(), stack=stack)
        _frames.append(frame)
        stack.callback(_frames.remove, frame)
        if len(_frames) == 1:  # the outermost block sets the rules; inner ones only change quiet
            stack.enter_context(_tqdm_rules())
        if frame.quiet:
            stack.enter_context(_silenced())
        for library in _ATTACH:  # libraries already imported get the run's rules now
            if library in sys.modules:
                attach(library)
        yield


def attach(library: str) -> None:
    """Apply the active run's output rules to `library` ("transformers" or "lm_eval"), just imported.

    Adapters call this after importing the library; outside `output()` it does nothing. The rules
    stay until the outermost `output()` block exits."""
    if not _frames or library not in _ATTACH:
        return
    outer = _frames[0]
    if library not in outer.attached:
        outer.attached.add(library)
        outer.stack.enter_context(_ATTACH[library]())


# -- quiet -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        stack.enter_context(_logging_at(logging.ERROR))
        stack.enter_context(_environment(_QUIET_ENV))
        yield


@contextlib.contextmanager
def _logging_at(level: int) -> Iterator[None]:
    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    saved = [(lg, lg.level) for lg in loggers]
    try:
        for lg in loggers:
            if lg.level < level:
                lg.setLevel(level)
        yield
    finally:
        for lg, old in saved:
            lg.setLevel(old)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


_DISABLE_POSITION = 10  # tqdm(iterable, desc, total, leave, file, ncols, mininterval, maxinterval, miniters, ascii, disable)


@contextlib.contextmanager
def _tqdm_rules() -> Iterator[None]:
    """Every tqdm bar created meanwhile, whoever creates it (lm-eval, datasets, ...: all tqdm classes derive
    from std.tqdm), follows the run's rule: off when quiet, else shown on a terminal only."""
    from tqdm import std

    original = std.tqdm.__dict__["__init__"]

    def init(self, *args, **kwargs):
        positional = len(args) > _DISABLE_POSITION
        asked = args[_DISABLE_POSITION] if positional else kwargs.get("disable", False)
        disable = True if not enabled() else (None if asked is False else asked)  # None: only on a terminal
        if positional:
            args = (*args[:_DISABLE_POSITION], disable, *args[_DISABLE_POSITION + 1:])
        else:
            kwargs["disable"] = disable
        original.__get__(self, type(self))(*args, **kwargs)

    std.tqdm.__init__ = init
    try:
        yield
    finally:
        std.tqdm.__init__ = original


# -- rules for libraries imported during a run -----------------------------------------------


@contextlib.contextmanager
def _transformers_rules() -> Iterator[None]:
    """transformers' own bars: none for save_pretrained's shards, the rest on a terminal only and cleared."""
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)  # transformers >= 5
    if set_hook is None:
        yield
        return

    def hook(factory, args, kwargs):
        desc = str(kwargs.get("desc") or (args[1] if len(args) > 1 else "") or "")
        if desc.startswith(_HIDDEN_BARS) or not enabled():
            kwargs["disable"] = True
        elif "disable" not in kwargs:
            kwargs["disable"] = None
        kwargs.setdefault("leave", False)
        return factory(*args, **kwargs)

    previous = set_hook(hook)
    try:
        yield
    finally:
        set_hook(previous)


def _quiet_git_commit_hash():
    """lm-eval's lookup of the working folder's git commit, without git's "fatal: ..." on stderr."""
    import subprocess

    from lm_eval.loggers.utils import get_commit_from_path

    try:
        out = subprocess.run(["git", "describe", "--always"], capture_output=True, check=True, timeout=10)
        return out.stdout.decode().strip()
    except (subprocess.SubprocessError, OSError):
        return get_commit_from_path(os.getcwd())


@contextlib.contextmanager
def _lmeval_rules() -> Iterator[None]:
    import importlib

    modules = {}
    for name in ("lm_eval.loggers.utils", "lm_eval.evaluator", "lm_eval.utils"):
        try:  # every module imported before any is patched: an import binds the name it finds
            modules[name] = importlib.import_module(name)
        except ImportError:
            continue
    patched = []
    for name, module in modules.items():
        current = getattr(module, "get_git_commit_hash", None)
        if callable(current):
            if current is not _quiet_git_commit_hash:
                _ORIGINAL_GIT.setdefault(name, current)
            if name in _ORIGINAL_GIT:
                patched.append(name)
                module.get_git_commit_hash = _quiet_git_commit_hash
    try:
        yield
    finally:
        for name in patched:
            module = sys.modules.get(name)
            if module is not None:
                module.get_git_commit_hash = _ORIGINAL_GIT[name]


_ORIGINAL_GIT: dict = {}  # module name -> lm-eval's own get_git_commit_hash


_ATTACH = {"transformers": _transformers_rules, "lm_eval": _lmeval_rules}
