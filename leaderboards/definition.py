"""Leaderboard definitions: which tasks count, with what weights, in which categories, normalised how.

A definition is a YAML file (the packaged ones live next to this module, e.g.
`default.yaml`; `evalsuite leaderboard build --definition FILE` takes any
other). Every problem in a file is collected and reported at once, in one
line, before anything is built.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.leaderboards.normalise import Rule

PACKAGED = Path(__file__).parent
CATEGORIES = ("capability", "fairness", "explainability", "privacy", "efficiency")  # = evalsuite.jobs.CATEGORIES
_RULE_KEYS = {"baseline", "best", "chance", "scale", "weight"}


@dataclass(frozen=True)
class MetricChoice:
    rule: Rule
    weight: float = 1.0


@dataclass(frozen=True)
class TaskChoice:
    name: str
    metrics: dict[str, MetricChoice]
    weight: float = 1.0
    category: str | None = None  # overrides the record's category


@dataclass
class Definition:
    name: str
    title: str
    categories: dict[str, float]  # category -> weight in the overall score; order is the column order
    tasks: dict[str, TaskChoice] = field(default_factory=dict)
    other_records: bool = True  # records of tasks not listed count too, every metric by metric_rules or defaults
    metric_rules: dict[str, Rule] = field(default_factory=dict)
    exclude_metrics: list[str] = field(default_factory=list)  # fnmatch patterns, for records not listed
    efficiency_floor: float = 1.0  # tokens/s scored 0 (log scale)
    efficiency_ceiling: float = 100_000.0  # tokens/s scored 1
    source: str = ""

    def task_choice(self, task: str) -> TaskChoice | None:
        """The listed entry for a task, by full name or by short name."""
        return self.tasks.get(task) or self.tasks.get(task.split("/", 1)[-1])

    def excluded(self, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.exclude_metrics)


def _number(value, where: str, problems: list[str], positive: bool = False) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where} must be a number, got {value!r}")
        return None
    if positive and value <= 0:
        problems.append(f"{where} must be positive, got {value}")
        return None
    return float(value)


def _rule(raw, where: str, problems: list[str]) -> MetricChoice:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping of {sorted(_RULE_KEYS)}")
        return MetricChoice(Rule())
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        problems.append(f"{where} has unknown keys {sorted(unknown)} (known: {sorted(_RULE_KEYS)})")
    values = {k: _number(raw[k], f"{where}.{k}", problems) for k in ("baseline", "best") if raw.get(k) is not None}
    scale = _number(raw["scale"], f"{where}.scale", problems, positive=True) if "scale" in raw else None
    chance = raw.get("chance")
    if chance is not None and chance != "auto" and not (isinstance(chance, int) and not isinstance(chance, bool)
                                                        and chance >= 2):
        problems.append(f"{where}.chance must be an integer k >= 2 or 'auto', got {chance!r}")
        chance = None
    if chance is not None and "baseline" in raw:
        problems.append(f"{where} gives both chance and baseline; keep one")
    weight = _number(raw.get("weight", 1), f"{where}.weight", problems, positive=True) or 1.0
    return MetricChoice(Rule(baseline=values.get("baseline"), best=values.get("best"), chance=chance, scale=scale),
                        weight)


def parse_definition(raw, source: str = "") -> Definition:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise UserError(f"leaderboard definition '{source}' must be a YAML mapping; see docs/leaderboards.md")
    known = {"name", "title", "description", "categories", "tasks", "other_records", "metric_rules",
             "exclude_metrics", "efficiency"}
    if set(raw) - known:
        problems.append(f"unknown keys {sorted(set(raw) - known)} (known: {sorted(known)})")
    categories_raw = raw.get("categories") or {c: 1 for c in CATEGORIES}
    categories = {}
    if not isinstance(categories_raw, dict):
        problems.append("categories must map category -> weight")
        categories_raw = {}
    for cat, weight in categories_raw.items():
        if cat not in CATEGORIES:
            problems.append(f"unknown category '{cat}' (known: {', '.join(CATEGORIES)})")
        w = _number(weight, f"categories.{cat}", problems)
        if w is not None and w < 0:
            problems.append(f"categories.{cat} must not be negative")
        categories[cat] = w or 0.0
    tasks = {}
    tasks_raw = raw.get("tasks") or {}
    if not isinstance(tasks_raw, dict):
        problems.append("tasks must map task name -> {metrics, weight, category}")
        tasks_raw = {}
    for name, spec in tasks_raw.items():
        spec = spec or {}
        where = f"tasks.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("metrics"), dict) or not spec["metrics"]:
            problems.append(f"{where} needs 'metrics: {{METRIC: {{...}}}}' naming at least one metric")
            continue
        unknown = set(spec) - {"metrics", "weight", "category"}
        if unknown:
            problems.append(f"{where} has unknown keys {sorted(unknown)}")
        category = spec.get("category")
        if category is not None and category not in CATEGORIES:
            problems.append(f"{where}.category '{category}' is not one of {', '.join(CATEGORIES)}")
        metrics = {m: _rule(r, f"{where}.metrics.{m}", problems) for m, r in spec["metrics"].items()}
        weight = _number(spec.get("weight", 1), f"{where}.weight", problems, positive=True) or 1.0
        tasks[name] = TaskChoice(name, metrics, weight, category)
    rules_raw = raw.get("metric_rules") or {}
    if not isinstance(rules_raw, dict):
        problems.append("metric_rules must map metric name -> {baseline, best, scale}")
        rules_raw = {}
    metric_rules = {m: _rule(r, f"metric_rules.{m}", problems).rule for m, r in rules_raw.items()}
    exclude = raw.get("exclude_metrics") or []
    if not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
        problems.append("exclude_metrics must be a list of metric-name patterns")
        exclude = []
    efficiency = raw.get("efficiency") or {}
    floor = _number(efficiency.get("floor_tokens_per_s", 1.0), "efficiency.floor_tokens_per_s", problems, True)
    ceiling = _number(efficiency.get("ceiling_tokens_per_s", 1e5), "efficiency.ceiling_tokens_per_s", problems, True)
    if floor and ceiling and ceiling <= floor:
        problems.append("efficiency.ceiling_tokens_per_s must exceed floor_tokens_per_s")
    if problems:
        raise UserError(f"leaderboard definition '{source}' is invalid: " + "; ".join(problems))
    return Definition(name=str(raw.get("name") or Path(source).stem or "leaderboard"),
                      title=str(raw.get("title") or raw.get("name") or "Leaderboard"), categories=categories,
                      tasks=tasks, other_records=bool(raw.get("other_records", True)), metric_rules=metric_rules,
                      exclude_metrics=list(exclude), efficiency_floor=floor, efficiency_ceiling=ceiling,
                      source=source)


def load_definition(ref: str | Path = "default") -> Definition:
    """A definition from a YAML file path, or a packaged one by name ('default')."""
    import yaml

    path = Path(ref)
    if not path.is_file():
        packaged = PACKAGED / f"{ref}.yaml"
        if not packaged.is_file():
            names = sorted(p.stem for p in PACKAGED.glob("*.yaml") if not p.stem.startswith("gate"))
            raise UserError(f"leaderboard definition '{ref}' is neither a file nor a packaged definition "
                            f"({', '.join(names)}); pass a YAML file")
        path = packaged
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"leaderboard definition '{path}' is not valid YAML ({str(exc).splitlines()[0]}); "
                        "fix the file") from None
    return parse_definition(raw, str(path))
