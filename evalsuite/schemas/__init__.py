"""The published JSON Schemas of evalsuite's files, and a small validator for them.

`record.schema.json` (one per (model, task) record) and `run.schema.json` (a run
folder's run.json) are draft 2020-12 schemas, shipped as package data so other
tools can validate evalsuite's files. Reading a record checks it against its
schema with `problems()`: a validator for the subset of draft 2020-12 these
files use (the `jsonschema` package is not a dependency; the tests cross-check
with it when it is installed). A schema using a keyword outside that subset is
refused when it is loaded, so a constraint is never silently skipped.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent

# Keywords that constrain a value (all checked below) and keywords that only annotate.
CHECKED = {"$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "items",
           "prefixItems", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
           "minLength", "anyOf", "if", "then", "else"}
ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"}
_SUBSCHEMA_MAPS = ("properties", "$defs")
_SUBSCHEMA_LISTS = ("prefixItems", "anyOf")
_SUBSCHEMAS = ("items", "additionalProperties", "if", "then", "else")


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """A published schema by file stem ('record', 'run'), checked to use only supported keywords."""
    schema = json.loads((HERE / f"{name}.schema.json").read_text(encoding="utf-8"))
    _check_keywords(schema, name)
    return schema


def _check_keywords(schema, where: str) -> None:
    if isinstance(schema, bool):
        return
    unknown = set(schema) - CHECKED - ANNOTATIONS
    if unknown:
        raise ValueError(f"schema {where} uses unsupported keyword(s) {sorted(unknown)}")
    for key in _SUBSCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            _check_keywords(sub, f"{where}/{key}/{name}")
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            _check_keywords(sub, f"{where}/{key}/{i}")
    for key in _SUBSCHEMAS:
        if key in schema:
            _check_keywords(schema[key], f"{where}/{key}")


def _type_ok(value, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float)
                                                                            and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown JSON Schema type {name!r}")


def _kind(value) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _type_ok(value, name) and not (name == "integer" and isinstance(value, float)):
            return name
    return type(value).__name__


def _at(path: str) -> str:
    return path or "the top level"


def problems(value, schema: dict, root: dict | None = None, path: str = "") -> list[str]:
    """Every way `value` breaks `schema`, each as 'where: what' (empty when it is valid)."""
    root = schema if root is None else root
    if schema is True:
        return []
    if schema is False:
        return [f"{_at(path)}: is not allowed here"]
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"only local '#/$defs/...' references are supported, not {ref!r}")
        found = problems(value, root["$defs"][ref[len("#/$defs/"):]], root, path)
        if found:
            return found
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, n) for n in names):
            return [f"{_at(path)}: expected {' or '.join(names)}, got {_kind(value)}"]
    out: list[str] = []
    if "const" in schema and value != schema["const"]:
        out.append(f"{_at(path)}: must be {json.dumps(schema['const'])}, got {json.dumps(value)[:40]}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{_at(path)}: must be one of {', '.join(json.dumps(e) for e in schema['enum'])}, "
                   f"got {json.dumps(value)[:40]}")
    if _type_ok(value, "number"):
        for key, bad in (("minimum", lambda v, b: v < b), ("maximum", lambda v, b: v > b),
                         ("exclusiveMinimum", lambda v, b: v <= b), ("exclusiveMaximum", lambda v, b: v >= b)):
            if key in schema and bad(value, schema[key]):
                out.append(f"{_at(path)}: {value} breaks {key} {schema[key]}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        out.append(f"{_at(path)}: shorter than {schema['minLength']} character(s)")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{_at(path)}: needs at least {schema['minItems']} item(s), has {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{_at(path)}: takes at most {schema['maxItems']} item(s), has {len(value)}")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            out += problems(item, sub, root, f"{path}[{i}]")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{_at(path)}: missing required field '{name}'")
        props = schema.get("properties", {})
        for name, item in value.items():
            where = f"{path}.{name}" if path else name
            if name in props:
                out += problems(item, props[name], root, where)
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    out.append(f"{where}: unknown field")
                else:
                    out += problems(item, extra, root, where)
    if "anyOf" in schema:
        tries = [problems(value, sub, root, path) for sub in schema["anyOf"]]
        if all(tries):  # report the branch that got furthest: not one whose type did not even match
            wrong_type = f"{_at(path)}: expected "
            out += min(tries, key=lambda t: (t[0].startswith(wrong_type), len(t)))
    if "if" in schema:
        branch = "then" if not problems(value, schema["if"], root, path) else "else"
        if branch in schema:
            out += problems(value, schema[branch], root, path)
    return out
