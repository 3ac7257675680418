"""Records on disk: one per (model, task), typed, validated, written atomically.

A run folder `runs/<run_id>/` holds `run.json` and, per task, `record.json`
(metrics with direction, confidence interval and method, sample count, and the
manifest) next to `samples.jsonl` (per-sample scores). Every file is written to
a temporary name and renamed into place, so a reader never sees half a file and
a killed run leaves no partial record behind.

`Record`, `Metric` and `Manifest` are the typed form; on disk a record follows
the published schema `evalsuite/schemas/record.schema.json`. Files are strict
JSON: a writer turns NaN and infinities into null (an undefined value, or an
undefined CI as a whole), and a reader refuses them. Reading a record checks it
against the schema and the rules a schema cannot say (ci low <= high; value and
CI inside the metric's declared `range`), and migrates older schema versions. A
damaged, foreign or mistyped file is a one-line `UserError` naming the file,
the problem and the fix.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from evalsuite.errors import UserError

SCHEMA_VERSION = 2  # record.json
RUN_SCHEMA_VERSION = 2  # run.json: paths relative to the results folder, writer pid and host
SAMPLES_FILE = "samples.jsonl"
DIRECTIONS = ("higher", "lower", "ideal")


# -- strict JSON: written atomically, never NaN -----------------------------------------------------


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite_or_none(value):
    """`value` with every NaN or infinity (nested in dicts, lists, tuples) replaced by None."""
    if isinstance(value, float) or (isinstance(value, numbers.Real) and not isinstance(value, (int, bool))):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def json_text(value, *, indent: int | None = 2, sort_keys: bool = True) -> str:
    """Strict JSON text: NaN and infinities are written as null (JSON has no NaN)."""
    kw = {"indent": indent, "sort_keys": sort_keys, "ensure_ascii": False, "default": str, "allow_nan": False}
    try:
        return json.dumps(value, **kw)
    except ValueError:  # a non-finite number somewhere: the rare case pays for the walk
        return json.dumps(finite_or_none(value), **kw)


def atomic_write_json(path: str | Path, value) -> None:
    atomic_write_text(path, json_text(value) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json_text(r, indent=None, sort_keys=False) + "\n" for r in rows))


class _NonFinite:
    """Stands in for a NaN/Infinity token while a file is parsed, so the reader can say where it was."""

    def __init__(self, token: str):
        self.token = token


def _one_line(text: str) -> str:
    return " ".join(str(text).split("\n"))


def _parse(path: Path, what: str, fix: str):
    if path.is_dir():
        raise UserError(_one_line(f"{what} '{path}' is a folder, not a JSON file; {fix}"))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(_one_line(f"{what} '{path}' is missing; {fix}")) from None
    except UnicodeDecodeError:
        raise UserError(_one_line(f"{what} '{path}' is not UTF-8 text (damaged or not JSON); {fix}")) from None
    except OSError as exc:
        raise UserError(_one_line(f"{what} '{path}' could not be read ({exc.strerror}); {fix}")) from None
    if not text.strip():
        raise UserError(_one_line(f"{what} '{path}' is empty (damaged); {fix}"))
    try:
        return json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise UserError(_one_line(f"{what} '{path}' is not valid JSON ({exc.msg} at line {exc.lineno} column "
                                  f"{exc.colno}; damaged or truncated); {fix}")) from None


def _non_finite(value, path: str = "") -> list[str]:
    """Where the NaN/Infinity tokens of a parsed file are (JSON paths)."""
    if isinstance(value, _NonFinite):
        return [f"{path or 'the top level'} ({value.token})"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


def _nulled(value):
    if isinstance(value, _NonFinite):
        return None
    if isinstance(value, dict):
        return {k: _nulled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulled(v) for v in value]
    return value


def read_json(path: str | Path, *, what: str = "file", fix: str = "fix or replace the file"):
    """A strict JSON file (NaN/Infinity refused); any problem is a one-line UserError naming the file."""
    path = Path(path)
    value = _parse(path, what, fix)
    bad = _non_finite(value)
    if bad:
        raise UserError(_one_line(f"{what} '{path}' holds NaN/Infinity at {', '.join(bad[:3])}, which JSON does "
                                  f"not allow; {fix}"))
    return value


def read_yaml(path: str | Path, *, what: str = "YAML file", fix: str = "fix the file", loader=None):
    """A YAML file (safe loader unless `loader` is given); a missing, unreadable or malformed file is a
    one-line UserError naming the file, the line and `fix`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(_one_line(f"{what} '{path}' does not exist; {fix}"))
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader or yaml.SafeLoader)
    except UnicodeDecodeError:
        raise UserError(_one_line(f"{what} '{path}' is not UTF-8 text; {fix}")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(_one_line(f"{what} '{path}' is not valid YAML ({problem}{where}); {fix}")) from None


def read_jsonl(path: str | Path, *, what: str = "JSONL file", fix: str = "fix or remove that line") -> list[dict]:
    """Rows of a JSON-lines file (blank lines skipped); a bad line is a UserError naming file and line.

    NaN/Infinity tokens are read as float NaN/inf: older writers put them in per-sample rows.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(_one_line(f"{what} '{path}' is a folder, not a file; {fix}"))
    rows = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(_one_line(f"{what} '{path}' line {number} is not valid JSON ({exc.msg} at "
                                              f"column {exc.colno}); {fix}")) from None
                if not isinstance(row, dict):
                    raise UserError(_one_line(f"{what} '{path}' line {number} is a JSON {type(row).__name__}, "
                                              f"not an object; {fix}"))
                rows.append(row)
    except FileNotFoundError:
        raise UserError(_one_line(f"{what} '{path}' is missing; {fix}")) from None
    except UnicodeDecodeError:
        raise UserError(_one_line(f"{what} '{path}' is not UTF-8 text (damaged); {fix}")) from None
    return rows


def slug(text: str) -> str:
    """A file-system-safe name for a model or task."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:80] or "x"


# -- typed records -----------------------------------------------------------------------------------


def _num(x):
    """A finite float, or None for None/NaN/inf; numpy scalars become plain floats."""
    if x is None or isinstance(x, bool) or not isinstance(x, numbers.Real):
        return None if x is None else x  # a wrong type is left for validation to name
    x = float(x)
    return x if math.isfinite(x) else None


def _pair(p):
    return None if p is None else tuple(p)


@dataclass
class Metric:
    """One metric of a record: its value, which way is better, a confidence interval and how it was made.

    `ci` is [low, high] or None (undefined); low <= high, but the value need not lie inside it (a bootstrap
    percentile interval can exclude the point estimate). `range` is the metric's possible values where known
    ([0, 1] for a proportion; None for an open side): the value and the CI must lie within it.
    """

    value: float | None
    direction: str = "higher"
    ideal: float | None = None
    ci: tuple[float, float] | None = None
    ci_method: str | None = "none"
    confidence: float | None = 0.95
    n: int | None = None
    range: tuple[float | None, float | None] | None = None
    extra: dict = field(default_factory=dict)  # fields a task added (e.g. lmeval_stderr), kept as they are

    _KNOWN = ("value", "direction", "ideal", "ci", "ci_method", "confidence", "n", "range")

    @classmethod
    def from_json(cls, d: Mapping) -> Metric:
        """From a validated record's metric dict."""
        return cls(value=d["value"], direction=d["direction"], ideal=d.get("ideal"), ci=_pair(d.get("ci")),
                   ci_method=d.get("ci_method"), confidence=d.get("confidence"),
                   n=None if d.get("n") is None else int(d["n"]), range=_pair(d.get("range")),
                   extra={k: v for k, v in d.items() if k not in cls._KNOWN})

    def to_json(self) -> dict:
        out = {**self.extra, "value": self.value, "direction": self.direction, "ideal": self.ideal,
               "ci": list(self.ci) if isinstance(self.ci, tuple) else self.ci, "ci_method": self.ci_method,
               "confidence": self.confidence, "n": self.n}
        if self.range is not None:
            out["range"] = list(self.range) if isinstance(self.range, tuple) else self.range
        return out

    def problems(self, where: str = "") -> list[str]:
        """What the schema cannot say: ci low <= high, value and ci inside `range`."""
        at = f"{where}: " if where else ""
        out = []
        if self.ci is not None and self.ci[0] > self.ci[1]:
            out.append(f"{at}ci low {self.ci[0]} is above ci high {self.ci[1]}")
        if self.range is not None:
            lo, hi = self.range
            if lo is not None and hi is not None and lo > hi:
                out.append(f"{at}range low {lo} is above range high {hi}")
            for label, x in (("value", self.value), ("ci low", self.ci and self.ci[0]),
                             ("ci high", self.ci and self.ci[1])):
                if x is not None and ((lo is not None and x < lo) or (hi is not None and x > hi)):
                    out.append(f"{at}{label} {x} lies outside the metric's range [{lo}, {hi}]")
        return out


def metric_entry(value: float | None, direction: dict, ci: tuple[float, float] | None, ci_method: str, n: int | None,
                 confidence: float = 0.95, range: tuple[float | None, float | None] | None = None) -> dict:
    """A metric as stored in a record (`Metric.to_json()`), made safe to write.

    NaN/inf become None; a CI with an undefined bound becomes None; numpy numbers become plain numbers.
    With a `range`, the CI is clipped to it (a normal-approximation interval can overshoot a bounded metric).
    """
    if isinstance(ci, (list, tuple)):  # anything else is left as it is, for validation to name
        ci = [_num(c) for c in ci]
        if len(ci) == 2 and None in ci:
            ci = None
    rng = [_num(r) for r in range] if isinstance(range, (list, tuple)) else range
    if isinstance(ci, list) and isinstance(rng, list) and len(rng) == 2 and len(ci) == 2 and all(
            isinstance(c, float) for c in ci):
        lo, hi = rng
        ci = [c if lo is None or c >= lo else lo for c in ci]
        ci = [c if hi is None or c <= hi else hi for c in ci]
    return Metric(value=_num(value), direction=direction.get("direction"), ideal=_num(direction.get("ideal")),
                  ci=_pair(ci) if isinstance(ci, list) else ci, ci_method=ci_method, confidence=_num(confidence),
                  n=int(n) if isinstance(n, numbers.Integral) and not isinstance(n, bool) else n,
                  range=_pair(rng) if isinstance(rng, list) else rng).to_json()


def _normalised_metric(m):
    """A writer's metric dict in stored form (what `metric_entry` makes), unknown keys kept for validation."""
    if not isinstance(m, Mapping):
        return m
    made = metric_entry(m.get("value"), m, m.get("ci"), m.get("ci_method"), m.get("n"), m.get("confidence", 0.95),
                        m.get("range"))
    return {**{k: v for k, v in m.items() if k not in made}, **made}


@dataclass
class Manifest:
    """Provenance of a record. Fields evalsuite does not know yet are kept in `extra`."""

    model_fingerprint: dict | None = None
    task_hash: str | None = None
    data_hash: str | None = None
    packages: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)
    seed: int | None = None
    limit: int | None = None
    task_options: dict = field(default_factory=dict)
    wall_time_s: float | None = None
    tokens_processed: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping) -> Manifest:
        known = {f.name for f in fields(cls)} - {"extra"}
        m = cls(**{k: v for k, v in d.items() if k in known})
        m.extra = {k: v for k, v in d.items() if k not in known}
        return m

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **out}


@dataclass
class Record:
    """One evaluation of one model on one task, as `record.json` holds it."""

    run_id: str
    model: str
    task: str
    metrics: dict[str, Metric]
    manifest: Manifest = field(default_factory=Manifest)
    task_source: str = "native"
    category: str = "capability"
    artifacts: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    samples_file: str = SAMPLES_FILE
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)  # top-level fields this version does not know, kept as they are
    path: Path | None = None  # where it was read from (not written)

    _FIELDS = ("run_id", "model", "task", "task_source", "category", "artifacts", "details", "samples_file",
               "schema_version")

    @classmethod
    def from_json(cls, d: Mapping, path: Path | None = None) -> Record:
        """From a validated record dict (what `read_record` returns)."""
        known = set(cls._FIELDS) | {"metrics", "manifest"}
        return cls(**{k: d[k] for k in cls._FIELDS if k in d},
                   metrics={name: Metric.from_json(m) for name, m in d["metrics"].items()},
                   manifest=Manifest.from_json(d.get("manifest", {})),
                   extra={k: v for k, v in d.items() if k not in known and not k.startswith("_")}, path=path)

    def to_json(self) -> dict:
        return {**self.extra, **{k: getattr(self, k) for k in self._FIELDS},
                "metrics": {name: m.to_json() for name, m in self.metrics.items()},
                "manifest": self.manifest.to_json()}

    @property
    def samples_path(self) -> Path | None:
        return None if self.path is None else self.path.parent / self.samples_file


def record_problems(record) -> list[str]:
    """Every way a record dict breaks the record schema or the metric rules (empty when valid)."""
    from evalsuite import schemas

    found = schemas.problems(record, schemas.load("record"))
    if found or not isinstance(record, dict):
        return found
    for name, m in record["metrics"].items():
        found += Metric.from_json(m).problems(f"metrics.{name}")
    return found


def _summary(problems: list[str], k: int = 3) -> str:
    more = f"; and {len(problems) - k} more" if len(problems) > k else ""
    return "; ".join(problems[:k]) + more


def write_record(run_dir: Path, task: str, record: dict | Record, samples: list[dict]) -> Path:
    """Samples first, record last: a record on disk implies its samples are complete.

    `task` names the record's folder inside `run_dir`. The record is normalised (metrics through
    `metric_entry`, so no NaN) and checked against the schema first: an invalid record is a bug in its
    writer and raises ValueError before anything is written.
    """
    body = record.to_json() if isinstance(record, Record) else dict(record)
    body.pop("_path", None)
    if isinstance(body.get("metrics"), Mapping):
        body["metrics"] = {k: _normalised_metric(v) for k, v in body["metrics"].items()}
    body = finite_or_none({**body, "schema_version": SCHEMA_VERSION, "samples_file": SAMPLES_FILE})
    problems = record_problems(json.loads(json_text(body)))  # checked exactly as it will read back
    if problems:
        raise ValueError(f"record of task '{body.get('task', task)}' is invalid: {_summary(problems, 5)}")
    folder = Path(run_dir) / slug(task)
    atomic_write_jsonl(folder / SAMPLES_FILE, samples)
    atomic_write_json(folder / "record.json", body)
    return folder / "record.json"


# -- reading, with migration -------------------------------------------------------------------------


def _results_dir_hint(path: Path) -> str:
    """The results folder of runs/<run_id>/<task>/record.json, for the fix in an error message."""
    return str(path.parents[3]) if len(path.parents) > 3 and path.parents[2].name == "runs" else "DIR"


def migrate_v1(record: dict) -> dict:
    """A schema_version 1 record (what evalsuite wrote before records were typed) in version 2 form.

    Version 1 had no `range`, could hold NaN (already read as None here) and a CI with NaN bounds.
    """
    out = {**record, "schema_version": 2}
    out.setdefault("samples_file", SAMPLES_FILE)
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        fixed = {}
        for name, m in metrics.items():
            if isinstance(m, dict):
                m = {"ideal": None, "confidence": 0.95, "n": None, "ci": None, "ci_method": "none", **m}
                if isinstance(m["ci"], list) and (len(m["ci"]) != 2 or None in m["ci"]):
                    m["ci"] = None
            fixed[name] = m
        out["metrics"] = fixed
    return out


def read_record(path: str | Path) -> dict:
    """A record file as a dict in the current schema (older versions migrated), checked.

    A damaged file, invalid JSON, NaN/Infinity, a value of the wrong type, a foreign JSON file or a record
    from a newer evalsuite is a one-line UserError naming the file, the problem and the fix.
    """
    path = Path(path)
    results = _results_dir_hint(path)
    rerun = (f"re-run that evaluation, or delete the record's folder and rebuild the index "
             f"(evalsuite index rebuild --output-dir {results})")
    raw = _parse(path, "record", rerun)
    if not isinstance(raw, dict):
        kind = "list" if isinstance(raw, list) else type(raw).__name__
        raise UserError(_one_line(f"record '{path}' is a JSON {kind}, not a record object (not a file evalsuite "
                                  f"wrote, or damaged); {rerun}"))
    version = raw.get("schema_version")
    if version is None or "metrics" not in raw:
        raise UserError(_one_line(f"'{path}' is not an evalsuite record (no schema_version or metrics; a foreign "
                                  f"JSON file?); move it out of the results folder, then rebuild the index "
                                  f"(evalsuite index rebuild --output-dir {results})"))
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserError(_one_line(f"record '{path}' has schema_version {json.dumps(_nulled(version))[:20]}, not a "
                                  f"whole number; {rerun}"))
    if version > SCHEMA_VERSION:
        raise UserError(f"record '{path}' has schema_version {version}, written by a newer evalsuite (this one "
                        f"reads up to {SCHEMA_VERSION}); upgrade evalsuite: pip install -U evalsuite")
    if version == 1:
        record = migrate_v1(_nulled(raw))  # version 1 writers wrote NaN for undefined values
    elif version == SCHEMA_VERSION:
        bad = _non_finite(raw)
        if bad:
            raise UserError(_one_line(f"record '{path}' holds NaN/Infinity at {', '.join(bad[:3])}, which a record "
                                      f"never holds (undefined values are null); {rerun}"))
        record = raw
    else:
        raise UserError(f"record '{path}' has unknown schema_version {version} (this evalsuite reads 1 to "
                        f"{SCHEMA_VERSION}); {rerun}")
    problems = record_problems(record)
    if problems:
        raise UserError(_one_line(f"record '{path}' does not match the record schema ({_summary(problems)}); "
                                  f"{rerun}"))
    return record


def load_record(path: str | Path) -> Record:
    """The typed form of `read_record`."""
    return Record.from_json(read_record(path), path=Path(path))


def read_run_summary(path: str | Path) -> dict:
    """A run folder's run.json, checked against schemas/run.schema.json (one-line UserError otherwise)."""
    from evalsuite import schemas

    path = Path(path)
    results = path.parents[2] if len(path.parents) > 2 and path.parents[1].name == "runs" else "DIR"
    fix = f"delete that run folder if the run is not wanted, then: evalsuite index rebuild --output-dir {results}"
    summary = read_json(path, what="run summary", fix=fix)
    if not isinstance(summary, dict) or "run_id" not in summary:
        raise UserError(_one_line(f"'{path}' is not an evalsuite run summary (no run_id); {fix}"))
    problems = schemas.problems(summary, schemas.load("run"))
    if problems:
        raise UserError(_one_line(f"run summary '{path}' does not match the run schema ({_summary(problems)}); "
                                  f"{fix}"))
    return summary
