"""Leaderboard definitions: which tasks count, with what weights, in which categories, normalised how.

A definition is a YAML file (the packaged ones live next to this module, e.g.
`default.yaml`; `evalsuite leaderboard build --definition FILE` takes any
other). Every problem in a file is collected and reported at once, in one
line, before anything is built.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.leaderboards.normalise import Rule

PACKAGED = Path(__file__).parent
# = evalsuite.jobs.CATEGORIES. A metric entry may name its own category (calibration and robustness metrics of a
# benchmark record, counterfactual-fairness gaps): it counts there, not in its record's category.
CATEGORIES = ("capability", "calibration", "robustness", "fairness", "explainability", "privacy", "efficiency")
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
    efficiency_worst: float = 100.0  # joules per sample scored 0 (log scale)
    efficiency_best: float = 1e-4  # joules per sample scored 1
    # Timed records of each task needed before efficiency carries an interval and counts in the overall:
    # one timing moves with machine load, so without repeats efficiency is reported with weight 0.
    efficiency_min_repeats: int = 3
    source: str = ""

    def task_choice(self, task: str) -> TaskChoice | None:
        """The listed entry for a task, by full name or by short name."""
        return self.tasks.get(task) or self.tasks.get(task.split("/", 1)[-1])

    def metric_rule(self, metric: str):
        """The metric_rules entry of a metric, by full name or by the name after a group prefix ('sub/ece')."""
        return self.metric_rules.get(metric) or self.metric_rules.get(metric.rsplit("/", 1)[-1])

    def excluded(self, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.exclude_metrics)


def _number(value, where: str, problems: list[str], positive: bool = False) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{where} must be a finite number, got {value!r}")
        return None
    if positive and value <= 0:
        problems.append(f"{where} must be positive, got {value}")
        return None
    return float(value)


def _unknown(given, known, where: str, problems: list[str]) -> None:
    """One problem per unknown key, with the closest known key suggested."""
    for key in sorted(set(given) - set(known), key=str):
        close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(known))}"
        problems.append(f"{where}unknown key '{key}' ({hint})")


def _rule(raw, where: str, problems: list[str]) -> MetricChoice:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping of {sorted(_RULE_KEYS)}")
        return MetricChoice(Rule())
    _unknown(raw, _RULE_KEYS, f"{where}: ", problems)
    values = {k: _number(raw[k], f"{where}.{k}", problems) for k in ("baseline", "best") if raw.get(k) is not None}
    scale = _number(raw["scale"], f"{where}.scale", problems, positive=True) if "scale" in raw else None
    chance = raw.get("chance")
    if chance is not None and chance != "auto" and not (isinstance(chance, int) and not isinstance(chance, bool)
                                                        and chance >= 2):
        problems.append(f"{where}.chance must be an integer k >= 2 or 'auto', got {chance!r}")
        chance = None
    if chance is not None and "baseline" in raw:
        problems.append(f"{where} gives both chance and baseline; keep one")
    if values.get("baseline") is not None and values.get("baseline") == values.get("best"):
        problems.append(f"{where}: baseline and best are both {values['best']:g}; they must differ")
    weight = _number(raw.get("weight", 1), f"{where}.weight", problems, positive=True) or 1.0
    return MetricChoice(Rule(baseline=values.get("baseline"), best=values.get("best"), chance=chance, scale=scale),
                        weight)


_TOP_KEYS = {"name", "title", "description", "categories", "tasks", "other_records", "metric_rules",
             "exclude_metrics", "efficiency"}
_TASK_KEYS = {"metrics", "weight", "category"}
_EFFICIENCY_KEYS = {"worst_joules_per_sample", "best_joules_per_sample", "min_repeats"}
MAX_REPEATS = 1_000_000


def _categories(raw, problems: list[str]) -> dict[str, float]:
    if raw is None:
        return {c: 1.0 for c in CATEGORIES}
    if not isinstance(raw, dict) or not raw:
        problems.append("categories must map category -> weight (e.g. {capability: 1, fairness: 1})")
        return {}
    categories, invalid = {}, False
    for cat, weight in raw.items():
        if cat not in CATEGORIES:
            close = difflib.get_close_matches(str(cat), CATEGORIES, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(CATEGORIES)}"
            problems.append(f"unknown category '{cat}' ({hint})")
            continue
        w = _number(weight, f"categories.{cat}", problems)
        if w is not None and w < 0:
            problems.append(f"categories.{cat} must not be negative, got {weight}")
        invalid |= w is None or w < 0
        categories[cat] = w if w is not None and w >= 0 else 0.0
    if categories and not invalid and not any(categories.values()):
        problems.append("every category weight is 0, so no overall score could be formed; give at least one "
                        "category a positive weight")
    return categories


def _tasks(raw, problems: list[str]) -> dict[str, TaskChoice]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("tasks must map task name -> {metrics, weight, category}")
        return {}
    tasks = {}
    for name, spec in raw.items():
        where = f"tasks.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("metrics"), dict) or not spec["metrics"]:
            problems.append(f"{where} needs 'metrics: {{METRIC: {{...}}}}' naming at least one metric")
            if isinstance(spec, dict):
                _unknown(spec, _TASK_KEYS, f"{where}: ", problems)
            continue
        _unknown(spec, _TASK_KEYS, f"{where}: ", problems)
        category = spec.get("category")
        if category is not None and category not in CATEGORIES:
            problems.append(f"{where}.category '{category}' is not one of {', '.join(CATEGORIES)}")
        metrics = {m: _rule(r, f"{where}.metrics.{m}", problems) for m, r in spec["metrics"].items()}
        weight = _number(spec.get("weight", 1), f"{where}.weight", problems, positive=True) or 1.0
        tasks[name] = TaskChoice(name, metrics, weight, category)
    return tasks


def _efficiency(raw, problems: list[str]) -> tuple[float, float, int]:
    worst, best, repeats = 100.0, 1e-4, 3
    if raw is None:
        return worst, best, repeats
    if not isinstance(raw, dict):
        problems.append(f"efficiency must be a mapping of {', '.join(sorted(_EFFICIENCY_KEYS))}")
        return worst, best, repeats
    _unknown(raw, _EFFICIENCY_KEYS, "efficiency: ", problems)
    worst = _number(raw.get("worst_joules_per_sample", worst), "efficiency.worst_joules_per_sample", problems, True)
    best = _number(raw.get("best_joules_per_sample", best), "efficiency.best_joules_per_sample", problems, True)
    if worst and best and best >= worst:
        problems.append("efficiency.best_joules_per_sample must be below worst_joules_per_sample")
    repeats = raw.get("min_repeats", repeats)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        problems.append(f"efficiency.min_repeats must be a whole number from 1 to {MAX_REPEATS:,}, got {repeats!r}")
        repeats = 3
    return worst or 100.0, best or 1e-4, repeats


def parse_definition(raw, source: str = "") -> Definition:
    """A validated Definition; every problem of the file is collected and raised once, in one line."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise UserError(f"leaderboard definition '{source}' must be a YAML mapping; see docs/leaderboards.md")
    _unknown(raw, _TOP_KEYS, "", problems)
    for key in ("name", "title", "description"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problems.append(f"{key} must be text, got {raw[key]!r}")
    categories = _categories(raw.get("categories"), problems)
    tasks = _tasks(raw.get("tasks"), problems)
    rules_raw = raw.get("metric_rules") or {}
    if not isinstance(rules_raw, dict):
        problems.append("metric_rules must map metric name -> {baseline, best, chance, scale}")
        rules_raw = {}
    metric_rules = {m: _rule(r, f"metric_rules.{m}", problems).rule for m, r in rules_raw.items()}
    exclude = raw.get("exclude_metrics") or []
    if not isinstance(exclude, list) or not all(isinstance(p, str) for p in exclude):
        problems.append("exclude_metrics must be a list of metric-name patterns")
        exclude = []
    other = raw.get("other_records", True)
    if not isinstance(other, bool):
        problems.append(f"other_records must be true or false, got {other!r}")
    worst, best, repeats = _efficiency(raw.get("efficiency"), problems)
    if problems:
        raise UserError(f"leaderboard definition '{source}' is invalid: " + "; ".join(problems)
                        + "; fix the file (format: docs/leaderboards.md)")
    return Definition(name=str(raw.get("name") or Path(source).stem or "leaderboard"),
                      title=str(raw.get("title") or raw.get("name") or "Leaderboard"), categories=categories,
                      tasks=tasks, other_records=other, metric_rules=metric_rules, exclude_metrics=list(exclude),
                      efficiency_worst=worst, efficiency_best=best, efficiency_min_repeats=repeats,
                      source=source)


def load_definition(ref: str | Path = "default") -> Definition:
    """A definition from a YAML file path, or a packaged one by name ('default')."""
    from evalsuite.records import read_yaml

    path = Path(ref)
    if not path.is_file():
        packaged = PACKAGED / f"{ref}.yaml"
        if not packaged.is_file():
            names = sorted(p.stem for p in PACKAGED.glob("*.yaml") if not p.stem.startswith("gate"))
            raise UserError(f"leaderboard definition '{ref}' is neither a file nor a packaged definition "
                            f"({', '.join(names)}); pass a YAML file")
        path = packaged
    raw = read_yaml(path, what="leaderboard definition")
    return parse_definition(raw, str(path))
