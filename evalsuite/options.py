"""Typed, declared options: what a task or a model adapter accepts, parsed and checked before any work.

A task function's keyword parameters are its options, and so are a model factory's
keyword-only parameters. The annotation gives the type, the default gives the default,
and `Annotated[T, Option(...)]` adds a one-line help, bounds and choices:

    @task("my_audit")
    def my_audit(data: Annotated[str, Option("table to audit (.csv/.parquet)")],
                 n: Annotated[int, Option("rows to use", min=1)] = 100) -> Job: ...

Values arrive as text from the command line (`--task-args n=50`) or as Python values
from `evalsuite.run(...)`; both go through the same parser. Every problem (an unknown
key, with the closest declared name suggested; a wrong type; a value out of bounds; a
required option missing) is collected, and the caller raises them once.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import suggest

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True)
class Option:
    """Metadata for one option, given as `Annotated[T, Option(...)]`."""

    help: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False  # min < value instead of min <= value
    max_exclusive: bool = False
    choices: tuple | None = None
    internal: bool = False  # set by evalsuite itself (e.g. an adapter's display name), not by --model-args


@dataclass(frozen=True)
class OptionSpec:
    """One declared option: name, type, default and constraints."""

    name: str
    type: type  # int, float, bool, str, Path or list (a list of strings)
    default: Any
    required: bool
    nullable: bool
    meta: Option

    def parse(self, raw: Any) -> Any:
        """The typed value of `raw` (text or a Python value); ValueError names what was expected."""
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null") and self.nullable):
            if self.nullable or not self.required and self.default is None:
                return None
            raise ValueError(f"needs a value ({self.type_name()})")
        value = _convert(self.type, raw)
        self._check(value)
        return value

    def _check(self, value: Any) -> None:
        meta = self.meta
        if meta.choices is not None and value not in meta.choices:
            raise ValueError(f"must be one of {', '.join(map(str, meta.choices))}, got '{value}'")
        if self.type in (int, float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"must be a finite number, got {value}")
            if meta.min is not None and (value < meta.min or (meta.min_exclusive and value == meta.min)):
                raise ValueError(f"must be {'>' if meta.min_exclusive else '>='} {meta.min:g}, got {value:g}")
            if meta.max is not None and (value > meta.max or (meta.max_exclusive and value == meta.max)):
                raise ValueError(f"must be {'<' if meta.max_exclusive else '<='} {meta.max:g}, got {value:g}")

    def type_name(self) -> str:
        name = {int: "integer", float: "number", bool: "true/false", str: "text", Path: "path",
                list: "list, items separated by '|'"}[self.type]
        return f"{name} or none" if self.nullable and not self.required else name

    def describe(self) -> str:
        """`name (type, default X, >= 1): help`, for `evalsuite describe`."""
        parts = [self.type_name()]
        if self.required:
            parts.append("required")
        else:
            parts.append(f"default {self.default!r}" if self.default is not None else "default none")
        if self.meta.min is not None:
            parts.append(f"{'>' if self.meta.min_exclusive else '>='} {self.meta.min:g}")
        if self.meta.max is not None:
            parts.append(f"{'<' if self.meta.max_exclusive else '<='} {self.meta.max:g}")
        if self.meta.choices:
            parts.append("one of " + "|".join(map(str, self.meta.choices)))
        return f"{self.name} ({', '.join(parts)}): {self.meta.help}".rstrip(": ")


def parse_bool(raw: Any) -> bool:
    """true/yes/1/on and false/no/0/off (any case); anything else is refused."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"must be true or false (or yes/no, 1/0), got '{raw}'")


def _convert(kind: type, raw: Any) -> Any:
    if kind is bool:
        return parse_bool(raw)
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(f"must be a whole number, got '{raw}'")
        if isinstance(raw, (int, float)):
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got '{raw}'") from None
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError(f"must be a number, got '{raw}'")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got '{raw}'") from None
    if kind is list:
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split("|")
        return [str(i).strip() for i in items if str(i).strip()]
    if not isinstance(raw, (str, Path)):
        raise ValueError(f"must be text, got {type(raw).__name__}")
    text = str(raw)
    if kind is Path:
        return text  # kept as given; callers resolve it where it is used
    return text


def _unwrap(annotation: Any) -> tuple[type, bool, Option]:
    """(base type, None allowed, Option) of an annotation such as `Annotated[int | None, Option(...)]`."""
    meta = Option()
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        meta = next((e for e in extras if isinstance(e, Option)), meta)
        annotation = base
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        meta = Option(meta.help, meta.min, meta.max, meta.min_exclusive, meta.max_exclusive, choices, meta.internal)
        annotation = type(choices[0])
    if typing.get_origin(annotation) in (list, tuple) or annotation in (list, tuple):
        annotation = list
    if annotation in (inspect.Parameter.empty, Any):
        annotation = str
    if annotation not in (int, float, bool, str, Path, list):
        annotation = str
    return annotation, nullable, meta


def declared_options(fn: Any, *, skip: tuple[str, ...] = ()) -> dict[str, OptionSpec]:
    """The options a task function or model factory declares, by name."""
    target = fn
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # an unresolvable annotation: fall back to untyped text options
        hints = {}
    specs = {}
    for p in inspect.signature(target).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        kind, nullable, meta = _unwrap(hints.get(p.name, p.annotation))
        required = p.default is p.empty
        default = None if required else p.default
        specs[p.name] = OptionSpec(p.name, kind, default, required, nullable or default is None, meta)
    return specs


def bind(specs: dict[str, OptionSpec], given: dict[str, Any], owner: str, flag: str) -> tuple[dict, list[str]]:
    """(typed values for every declared option, problems): defaults filled, unknown keys refused."""
    values, problems = {}, []
    for key, raw in given.items():
        spec = specs.get(key)
        if spec is None:
            public = [n for n, s in specs.items() if not s.meta.internal]
            accepted = f" It accepts: {', '.join(public)}." if public else " It takes no options."
            problems.append(f"{owner} has no option '{key}' ({flag}).{suggest(key, public)}{accepted}")
            continue
        try:
            values[key] = spec.parse(raw)
        except ValueError as exc:
            problems.append(f"{owner} option {key} {exc} ({flag})")
    for name, spec in specs.items():
        if name in values:
            continue
        if spec.required:
            problems.append(f"{owner} needs option {name} ({spec.type_name()}): pass {flag} {name}=VALUE")
        else:
            values[name] = spec.default
    return values, problems


def split_items(text: str, flag: str) -> list[tuple[str | None, str, str]]:
    """`[SCOPE:]KEY=VALUE,...` as (scope or None, key, value) triples; a malformed item raises ValueError."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} item '{part}' is not KEY=VALUE; write e.g. {flag} key=value,other=2")
        scope, colon, bare = key.strip().rpartition(":")
        out.append((scope if colon else None, bare.strip(), value.strip()))
    return out
