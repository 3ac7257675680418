"""Gate policies: a YAML file of release rules, validated completely before anything is evaluated.

    name: release-gate
    alpha: 0.05                     # default significance level of regression rules
    rules:
      - {type: threshold, task: demo_facts_mc, metric: acc, min: 0.8, use_ci: true}
      - {type: threshold, task: demo_heldout_ppl, metric: bits_per_byte, at_least: 3.0}
      - {type: regression, task: demo_facts_mc, metric: acc, max_drop: 0.02}
      - {type: fairness, task: my_audit, metric: [statistical_parity_difference], max_gap: 0.1}
      - {type: epsilon, max: 8}
      - {type: energy, max_joules_per_sample: 0.5, require_measured: false}
      - {type: subgroup, task: fairness_audit, max_drop: 0.02}   # a variant against its base (--baseline)

Rule semantics are documented in evalsuite.leaderboards.gate and docs/leaderboards.md.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.errors import UserError

PACKAGED_EXAMPLE = Path(__file__).parent / "gate-policy.example.yaml"
RULE_TYPES = ("threshold", "regression", "fairness", "epsilon", "energy", "subgroup")
_KEYS = {
    "threshold": {"task", "metric", "min", "max", "at_least", "use_ci"},
    "regression": {"task", "metric", "max_drop", "test", "field", "alpha", "resamples"},
    "fairness": {"task", "metric", "max_gap", "use_ci"},
    "epsilon": {"task", "max"},
    "energy": {"task", "max_joules_per_sample", "require_measured"},
    "subgroup": {"task", "max_drop", "field", "alpha", "resamples"},
}


@dataclass(frozen=True)
class GateRule:
    name: str
    type: str
    params: dict = field(default_factory=dict)

    def get(self, key, default=None):
        return self.params.get(key, default)


@dataclass(frozen=True)
class Policy:
    name: str
    alpha: float
    rules: list[GateRule]
    source: str = ""

    @property
    def needs_baseline(self) -> bool:
        return any(r.type in ("regression", "subgroup") for r in self.rules)


MIN_RESAMPLES, MAX_RESAMPLES = 100, 1_000_000  # below 100 a bootstrap p-value cannot reach 0.01


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unknown(given, known, where: str, problems: list[str]) -> None:
    """One problem per unknown key, with the closest known key suggested."""
    for key in sorted(set(given) - set(known), key=str):
        close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(known))}"
        problems.append(f"{where}unknown key '{key}' ({hint})")


def resamples_problem(value, where: str) -> str | None:
    """The problem with a bootstrap resample count, or None when it is a whole number in range."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_RESAMPLES <= value <= MAX_RESAMPLES:
        return f"{where} must be a whole number from {MIN_RESAMPLES} to {MAX_RESAMPLES:,}, got {value!r}"
    return None


def _check_rule(raw: dict, where: str, problems: list[str]) -> None:
    kind = raw.get("type")
    if kind not in RULE_TYPES:
        close = difflib.get_close_matches(str(kind), RULE_TYPES, n=1, cutoff=0.6) if isinstance(kind, str) else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"{where}: type must be one of {', '.join(RULE_TYPES)}, got {kind!r}{hint}")
        return
    _unknown(raw, _KEYS[kind] | {"type", "name"}, f"{where} ({kind}): ", problems)
    if "name" in raw and (not isinstance(raw["name"], str) or not raw["name"].strip()):
        problems.append(f"{where}: name must be non-empty text, got {raw['name']!r}")
    if kind not in ("epsilon", "energy") or "task" in raw:
        if not isinstance(raw.get("task"), str) or not raw.get("task"):
            problems.append(f"{where}: needs 'task: NAME' (text), got {raw.get('task')!r}")
    if kind in ("threshold", "regression") and not (isinstance(raw.get("metric"), str) and raw["metric"]):
        problems.append(f"{where}: needs 'metric: NAME' (text), got {raw.get('metric')!r}")
    if kind == "fairness":
        metric = raw.get("metric")
        if not (isinstance(metric, str) or (isinstance(metric, list) and metric
                                            and all(isinstance(m, str) for m in metric))):
            problems.append(f"{where}: needs 'metric: NAME' or a list of names ('*' = every ideal-valued metric)")
    bounds = {"threshold": ("min", "max", "at_least"), "regression": ("max_drop",), "fairness": ("max_gap",),
              "epsilon": ("max",), "energy": ("max_joules_per_sample",), "subgroup": ("max_drop",)}[kind]
    given = [b for b in bounds if b in raw]
    if not given:
        problems.append(f"{where}: needs {' or '.join(bounds)}")
    if kind == "threshold" and "at_least" in raw and len(given) > 1:
        problems.append(f"{where}: at_least cannot be combined with min/max")
    for b in given:
        if not _is_number(raw[b]):
            problems.append(f"{where}: {b} must be a finite number, got {raw[b]!r}")
        elif b in ("max_drop", "max_gap", "at_least") and raw[b] < 0:
            problems.append(f"{where}: {b} must not be negative, got {raw[b]}")
        elif kind == "epsilon" and raw[b] < 0:
            problems.append(f"{where}: max (an epsilon) must not be negative, got {raw[b]}")
        elif kind == "energy" and raw[b] < 0:
            problems.append(f"{where}: {b} must not be negative, got {raw[b]}")
    if kind == "threshold" and all(_is_number(raw.get(b)) for b in ("min", "max")) and raw["min"] > raw["max"]:
        problems.append(f"{where}: min {raw['min']} exceeds max {raw['max']}; no value could pass")
    if "require_measured" in raw and not isinstance(raw["require_measured"], bool):
        problems.append(f"{where}: require_measured must be true or false, got {raw['require_measured']!r}")
    if "use_ci" in raw and not isinstance(raw["use_ci"], bool):
        problems.append(f"{where}: use_ci must be true or false, got {raw['use_ci']!r}")
    if kind in ("regression", "subgroup"):
        if raw.get("test", "auto") not in ("auto", "mcnemar", "bootstrap"):
            problems.append(f"{where}: test must be auto, mcnemar or bootstrap, got {raw.get('test')!r}")
        if raw.get("test") == "mcnemar" and raw.get("max_drop") not in (0, 0.0):
            problems.append(f"{where}: McNemar's exact test needs max_drop 0; use test: bootstrap for a margin")
        if "field" in raw and not (isinstance(raw["field"], str) and raw["field"]):
            problems.append(f"{where}: field must be a per-sample score name, got {raw['field']!r}")
        if "alpha" in raw and not (_is_number(raw["alpha"]) and 0 < raw["alpha"] < 1):
            problems.append(f"{where}: alpha must lie in (0, 1), got {raw['alpha']!r}")
        if "resamples" in raw:
            problem = resamples_problem(raw["resamples"], f"{where}: resamples")
            if problem:
                problems.append(problem)


def _default_name(raw: dict) -> str:
    metric = raw.get("metric", {"energy": "joules per sample", "subgroup": "per-group accuracy"}.get(
        raw.get("type"), "epsilon"))
    metric = ",".join(map(str, metric)) if isinstance(metric, list) else metric
    scope = raw.get("task", "all records" if raw.get("type") == "energy" else "privacy records")
    return f"{raw.get('type')}: {scope} {metric}"


def parse_policy(raw, source: str = "") -> Policy:
    """A validated Policy; every problem of the file is collected and raised once, in one line."""
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list) or not raw["rules"]:
        raise UserError(f"gate policy '{source}' must be a mapping with a non-empty 'rules' list; "
                        "see docs/leaderboards.md")
    problems: list[str] = []
    _unknown(raw, {"name", "alpha", "rules", "description"}, "", problems)
    for key in ("name", "description"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problems.append(f"{key} must be text, got {raw[key]!r}")
    alpha = raw.get("alpha", 0.05)
    if not (_is_number(alpha) and 0 < alpha < 1):
        problems.append(f"alpha must lie in (0, 1), got {alpha!r}")
    rules, names = [], set()
    for i, rule in enumerate(raw["rules"], 1):
        where = f"rule {i}"
        if not isinstance(rule, dict):
            problems.append(f"{where}: must be a mapping with a 'type', got {rule!r}")
            continue
        _check_rule(rule, where, problems)
        name = rule["name"] if isinstance(rule.get("name"), str) and rule["name"].strip() else _default_name(rule)
        if name in names:
            problems.append(f"{where}: name '{name}' is used twice; give each rule a unique name")
        names.add(name)
        rules.append(GateRule(name, rule.get("type"), {k: v for k, v in rule.items() if k not in ("type", "name")}))
    if problems:
        raise UserError(f"gate policy '{source}' is invalid: " + "; ".join(problems) + "; fix the file "
                        "(format: docs/leaderboards.md)")
    return Policy(str(raw.get("name") or Path(source).stem or "gate"), float(alpha), rules, source)


def load_policy(path: str | Path) -> Policy:
    from evalsuite.records import read_yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"gate policy '{path}' does not exist; pass --policy FILE (example: "
                        "leaderboards/gate-policy.example.yaml)")
    raw = read_yaml(path, what="gate policy")
    return parse_policy(raw, str(path))
