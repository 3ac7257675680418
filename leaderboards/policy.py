"""Gate policies: a YAML file of release rules, validated completely before anything is evaluated.

    name: release-gate
    alpha: 0.05                     # default significance level of regression rules
    rules:
      - {type: threshold, task: demo_facts_mc, metric: acc, min: 0.8, use_ci: true}
      - {type: threshold, task: demo_heldout_ppl, metric: bits_per_byte, at_least: 3.0}
      - {type: regression, task: demo_facts_mc, metric: acc, max_drop: 0.02}
      - {type: fairness, task: my_audit, metric: [statistical_parity_difference], max_gap: 0.1}
      - {type: epsilon, max: 8}

Rule semantics are documented in evalsuite.leaderboards.gate and docs/leaderboards.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.errors import UserError

PACKAGED_EXAMPLE = Path(__file__).parent / "gate-policy.example.yaml"
RULE_TYPES = ("threshold", "regression", "fairness", "epsilon")
_KEYS = {
    "threshold": {"task", "metric", "min", "max", "at_least", "use_ci"},
    "regression": {"task", "metric", "max_drop", "test", "field", "alpha", "resamples"},
    "fairness": {"task", "metric", "max_gap", "use_ci"},
    "epsilon": {"task", "max"},
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
        return any(r.type == "regression" for r in self.rules)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_rule(raw: dict, where: str, problems: list[str]) -> None:
    kind = raw.get("type")
    if kind not in RULE_TYPES:
        problems.append(f"{where}: type must be one of {', '.join(RULE_TYPES)}, got {kind!r}")
        return
    unknown = set(raw) - _KEYS[kind] - {"type", "name"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)} for a {kind} rule "
                        f"(known: {sorted(_KEYS[kind] | {'type', 'name'})})")
    if kind != "epsilon" or "task" in raw:
        if not isinstance(raw.get("task"), str) or not raw.get("task"):
            problems.append(f"{where}: needs 'task: NAME'")
    if kind in ("threshold", "regression") and not isinstance(raw.get("metric"), str):
        problems.append(f"{where}: needs 'metric: NAME'")
    if kind == "fairness":
        metric = raw.get("metric")
        if not (isinstance(metric, str) or (isinstance(metric, list) and metric
                                            and all(isinstance(m, str) for m in metric))):
            problems.append(f"{where}: needs 'metric: NAME' or a list of names ('*' = every ideal-valued metric)")
    bounds = {"threshold": ("min", "max", "at_least"), "regression": ("max_drop",), "fairness": ("max_gap",),
              "epsilon": ("max",)}[kind]
    given = [b for b in bounds if b in raw]
    if not given:
        problems.append(f"{where}: needs {' or '.join(bounds)}")
    if kind == "threshold" and "at_least" in raw and len(given) > 1:
        problems.append(f"{where}: at_least cannot be combined with min/max")
    for b in given:
        if not _is_number(raw[b]):
            problems.append(f"{where}: {b} must be a number, got {raw[b]!r}")
        elif b in ("max_drop", "max_gap") and raw[b] < 0:
            problems.append(f"{where}: {b} must not be negative")
    if "use_ci" in raw and not isinstance(raw["use_ci"], bool):
        problems.append(f"{where}: use_ci must be true or false")
    if kind == "regression":
        if raw.get("test", "auto") not in ("auto", "mcnemar", "bootstrap"):
            problems.append(f"{where}: test must be auto, mcnemar or bootstrap")
        if raw.get("test") == "mcnemar" and raw.get("max_drop") not in (0, 0.0):
            problems.append(f"{where}: McNemar's exact test needs max_drop 0; use test: bootstrap for a margin")
        if "alpha" in raw and not (_is_number(raw["alpha"]) and 0 < raw["alpha"] < 1):
            problems.append(f"{where}: alpha must lie in (0, 1)")
        if "resamples" in raw and not (isinstance(raw["resamples"], int) and raw["resamples"] >= 100):
            problems.append(f"{where}: resamples must be an integer >= 100")


def _default_name(raw: dict) -> str:
    metric = raw.get("metric", "epsilon")
    metric = ",".join(metric) if isinstance(metric, list) else metric
    return f"{raw.get('type')}: {raw.get('task', 'privacy records')} {metric}"


def parse_policy(raw, source: str = "") -> Policy:
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list) or not raw["rules"]:
        raise UserError(f"gate policy '{source}' must be a mapping with a non-empty 'rules' list; "
                        "see docs/leaderboards.md")
    problems: list[str] = []
    unknown = set(raw) - {"name", "alpha", "rules", "description"}
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)} (known: name, alpha, rules, description)")
    alpha = raw.get("alpha", 0.05)
    if not (_is_number(alpha) and 0 < alpha < 1):
        problems.append(f"alpha must lie in (0, 1), got {alpha!r}")
    rules, names = [], set()
    for i, rule in enumerate(raw["rules"], 1):
        where = f"rule {i}"
        if not isinstance(rule, dict):
            problems.append(f"{where}: must be a mapping with a 'type'")
            continue
        _check_rule(rule, where, problems)
        name = str(rule.get("name") or _default_name(rule))
        if name in names:
            problems.append(f"{where}: name '{name}' is used twice; give each rule a unique name")
        names.add(name)
        rules.append(GateRule(name, rule.get("type"), {k: v for k, v in rule.items() if k not in ("type", "name")}))
    if problems:
        raise UserError(f"gate policy '{source}' is invalid: " + "; ".join(problems))
    return Policy(str(raw.get("name") or Path(source).stem or "gate"), float(alpha), rules, source)


def load_policy(path: str | Path) -> Policy:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"gate policy '{path}' does not exist; pass --policy FILE (example: "
                        "leaderboards/gate-policy.example.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"gate policy '{path}' is not valid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    return parse_policy(raw, str(path))
