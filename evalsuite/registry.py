"""The plugin registry: one registry, several kinds, names namespaced by plugin.

A plugin is a module (or package) named by an entry point in the group
`evalsuite`; the entry point's name is the plugin's namespace. Inside it,
objects are marked with one decorator per kind (`@task("name")`,
`@model("name")`, `@metric("name")`, ...). Marking has no side effect at
import time: the loader imports the plugin, finds the marked objects and
registers them as `namespace/name`. That makes loading idempotent and lets the
same path serve first-party plugins, third-party packages and a user's
`--tasks-path` folder.

Every plugin is validated as it registers; all of its problems are collected
and raised at once in a `PluginError` that names the plugin.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from evalsuite.errors import PluginError, UserError, suggest

ENTRY_POINT_GROUP = "evalsuite"
KINDS = ("task", "model", "metric", "audit", "explainer", "privacy", "command", "variant", "perturbation")
_MARK = "__evalsuite_plugin__"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


@dataclass(frozen=True)
class Entry:
    """One registered object."""

    kind: str
    name: str  # fully qualified: plugin/name
    plugin: str
    obj: Callable[..., Any]
    description: str

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1]


def _marker(kind: str):
    def decorator_factory(name: str, *, description: str | None = None):
        def mark(obj):
            marks = list(getattr(obj, _MARK, ()))
            marks.append((kind, name, description))
            setattr(obj, _MARK, tuple(marks))
            return obj

        return mark

    decorator_factory.__name__ = kind
    decorator_factory.__doc__ = f"Mark a callable as a {kind} plugin named NAME (namespaced by its plugin)."
    return decorator_factory


task = _marker("task")
model = _marker("model")
metric = _marker("metric")
audit = _marker("audit")
explainer = _marker("explainer")
privacy = _marker("privacy")
# A model variant: `factory(arg: str | None) -> transform(adapter) -> adapter` (see evalsuite.variants).
variant = _marker("variant")
# A command: `configure(parser: argparse.ArgumentParser) -> handler`, where handler(args) -> exit code.
# The parser is the subcommand's own; configure adds its arguments and imports nothing heavy.
command = _marker("command")
# A perturbation: a factory taking keyword options, returning an evalsuite.perturb.Perturbation.
perturbation = _marker("perturbation")


def _validate(kind: str, name: str, obj: Any) -> list[str]:
    problems = []
    if kind not in KINDS:
        problems.append(f"unknown kind '{kind}' (known: {', '.join(KINDS)})")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.append(f"{kind} name {name!r} must be lower-case letters, digits, '_', '-' or '.'")
    if not callable(obj):
        problems.append(f"{kind} '{name}' is not callable")
        return problems
    if kind in ("task", "model", "perturbation"):  # options are passed by keyword, so every parameter must take one
        positional = [p.name for p in inspect.signature(obj).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL)]
        if positional:
            problems.append(f"{kind} '{name}' has positional-only parameters ({', '.join(positional)}); "
                            "declare options as keyword parameters")
    return problems


def declared_task_names(file: Path) -> set[str]:
    """Task names a Python file declares with a literal `@task("name")` decorator, read without running it."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        raise PluginError(f"plugin 'local': task file '{file}' cannot be read ({exc}); fix the file") from None
    found = set()
    for node in ast.walk(tree):
        for deco in getattr(node, "decorator_list", ()):
            func = getattr(deco, "func", None)
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name == "task" and deco.args and isinstance(deco.args[0], ast.Constant):
                found.add(str(deco.args[0].value))
    return found


def _marked_objects(module: ModuleType) -> Iterator[tuple[str, str, str | None, Any]]:
    seen = set()
    for value in vars(module).values():
        if id(value) in seen or getattr(value, "__module__", None) != module.__name__:
            continue
        seen.add(id(value))
        for kind, name, description in getattr(value, _MARK, ()):
            yield kind, name, description, value


def _modules_of(root: ModuleType) -> list[ModuleType]:
    """The plugin module, its submodules, and any modules it lists in PLUGIN_MODULES."""
    modules = [root]
    for name in getattr(root, "PLUGIN_MODULES", ()):
        modules.extend(_modules_of(importlib.import_module(name)))
    if hasattr(root, "__path__"):
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                modules.extend(_modules_of(importlib.import_module(f"{root.__name__}.{info.name}")))
    return modules


class Registry:
    """Holds every registered entry; loads plugins lazily on first lookup."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._loaded_entry_points = False
        self._loaded_files: dict[Path, list[Entry]] = {}  # task files already imported by load_path

    # -- loading -----------------------------------------------------------
    def register_module(self, plugin: str, module: ModuleType) -> list[Entry]:
        """Register every marked object of `module` (and its submodules) under `plugin`."""
        problems, found = [], []
        if not _NAME_RE.match(plugin):
            problems.append(f"plugin name {plugin!r} must be lower-case letters, digits, '_', '-' or '.'")
        for mod in _modules_of(module):
            for kind, name, description, obj in _marked_objects(mod):
                issues = _validate(kind, name, obj)
                key = (kind, f"{plugin}/{name}")
                if not issues and key in self._entries and self._entries[key].obj is not obj:
                    issues.append(f"{kind} '{key[1]}' is already registered")
                if not issues and any(k == key for k, _ in found):
                    issues.append(f"{kind} '{key[1]}' is defined twice")
                problems += [f"{mod.__name__}: {i}" for i in issues]
                doc = description or (inspect.getdoc(obj) or "").split("\n", 1)[0]
                found.append((key, Entry(kind, key[1], plugin, obj, doc)))
        if problems:
            raise PluginError(f"plugin '{plugin}' is invalid: " + "; ".join(problems))
        for key, entry in found:
            self._entries[key] = entry
        return [e for _, e in found]

    def load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name != "evalsuite", e.name)):
            try:
                module = importlib.import_module(ep.value)
            except Exception as exc:  # a broken plugin must name itself
                raise PluginError(f"plugin '{ep.name}' failed to import '{ep.value}': {exc}") from exc
            self.register_module(ep.name, module)

    def load_path(self, path: str | Path, plugin: str = "local", names: list[str] | None = None) -> list[Entry]:
        """Register the Python task files of a user's folder (lm-eval YAML is handled elsewhere).

        With `names`, only the files whose source declares one of those tasks (`@task("name")`,
        found by reading the file, not running it) are imported: code runs only where a run needs it.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise UserError(f"--tasks-path '{path}' is not a directory; pass a folder of task files")
        wanted = None if names is None else {n.split("/", 1)[-1] for n in names}
        entries = []
        for file in sorted(folder.glob("*.py")):
            if wanted is not None and not wanted & declared_task_names(file):
                continue
            if file.resolve() in self._loaded_files:  # a second load would re-register new objects: refused
                entries += self._loaded_files[file.resolve()]
                continue
            mod_name = f"evalsuite_local_{hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]}_{file.stem}"
            spec = importlib.util.spec_from_file_location(mod_name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise PluginError(f"plugin '{plugin}': task file '{file}' failed to import: "
                                  f"{type(exc).__name__}: {exc}") from exc
            self._loaded_files[file.resolve()] = self.register_module(plugin, module)
            entries += self._loaded_files[file.resolve()]
        return entries

    # -- lookup ------------------------------------------------------------
    def entries(self, kind: str | None = None) -> list[Entry]:
        self.load_entry_points()
        return sorted((e for e in self._entries.values() if kind in (None, e.kind)), key=lambda e: (e.kind, e.name))

    def find(self, kind: str, name: str) -> Entry | None:
        """Exact `plugin/name`, or a short name when exactly one plugin has it."""
        self.load_entry_points()
        if (kind, name) in self._entries:
            return self._entries[(kind, name)]
        matches = [e for e in self.entries(kind) if e.short_name == name]
        if len(matches) > 1:
            raise UserError(
                f"{kind} name '{name}' is ambiguous: {', '.join(e.name for e in matches)}; use the full plugin/name"
            )
        return matches[0] if matches else None

    def get(self, kind: str, name: str) -> Entry:
        entry = self.find(kind, name)
        if entry is None:
            known = [e.name for e in self.entries(kind)]
            raise UserError(f"unknown {kind} '{name}'.{suggest(name, known)} (see: evalsuite list {kind}s)")
        return entry


REGISTRY = Registry()
