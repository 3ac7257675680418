"""Release gates: evaluate a policy's rules on a candidate's records (and a baseline's), a reason per rule.

Rules (policy format: evalsuite.leaderboards.policy):

- threshold: `min` / `max` on a metric's value, or `at_least: X` in the
  metric's better direction (higher: value >= X, lower: value <= X, ideal:
  |value - ideal| <= X). With `use_ci: true` the pessimistic end of the
  confidence interval is compared instead of the point value.
- regression: per-sample scores of candidate and baseline joined by doc_id,
  tested by evalsuite.leaderboards.paired_tests; fails only when the one-sided
  test rejects "mean drop <= max_drop" at alpha, so noise alone passes.
- fairness: every named metric (or '*': every ideal-valued metric of the
  record) must lie within max_gap of its ideal; with `use_ci` (the default)
  the whole confidence interval must.
- epsilon: every privacy record with a privacy claim (details["privacy"]: DP fine-tuning, privacy
  audits; not a utility-privacy curve), or the named task, must report an `epsilon`
  metric <= max and, where present, `dp_bound_violated` = 0. A non-private run
  records no epsilon, so it fails; so does a candidate with no privacy record.

A rule whose record or metric is missing fails with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from evalsuite.leaderboards.paired_tests import paired_regression_test
from evalsuite.leaderboards.policy import GateRule, Policy
from evalsuite.leaderboards.results import find_task

DEFAULT_RESAMPLES = 10_000


@dataclass
class RuleResult:
    name: str
    type: str
    passed: bool
    reason: str
    details: dict = field(default_factory=dict)


@dataclass
class GateReport:
    policy: str
    candidate: list[str]
    baseline: list[str]
    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def result(self, name: str) -> RuleResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no rule named '{name}' in policy '{self.policy}' (rules: "
                       f"{', '.join(r.name for r in self.results)})")

    def to_json(self) -> dict:
        return {"policy": self.policy, "candidate": self.candidate, "baseline": self.baseline,
                "passed": self.passed, "results": [asdict(r) for r in self.results]}


class _Missing(Exception):
    """A record, metric or sample the rule needs is absent: the rule fails with this reason."""


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _metric(records: dict, task: str, metric: str, who: str = "candidate") -> tuple[dict, dict]:
    record = find_task(records, task)
    if record is None:
        raise _Missing(f"{who} has no record for task '{task}'")
    entry = record["metrics"].get(metric)
    if entry is None:
        raise _Missing(f"{who} record of '{record['task']}' has no metric '{metric}' "
                       f"(it has: {', '.join(sorted(record['metrics'])) or 'none'})")
    return record, entry


def _ci(entry: dict, use_ci: bool) -> tuple[float, float] | None:
    if not use_ci:
        return None
    if not entry.get("ci") or None in entry["ci"]:
        raise _Missing("use_ci is set but the metric has no confidence interval")
    return float(entry["ci"][0]), float(entry["ci"][1])


def _threshold(rule: GateRule, candidate: dict, **_) -> RuleResult:
    _, entry = _metric(candidate, rule.get("task"), rule.get("metric"))
    value, ci = float(entry["value"]), _ci(entry, rule.get("use_ci", False))
    checks = []  # (description, compared value, ok)
    if "at_least" in rule.params:
        bound, direction = float(rule.get("at_least")), entry["direction"]
        if direction == "higher":
            seen = ci[0] if ci else value
            checks.append((f">= {bound:g}", seen, seen >= bound))
        elif direction == "lower":
            seen = ci[1] if ci else value
            checks.append((f"<= {bound:g}", seen, seen <= bound))
        else:
            ideal = float(entry["ideal"])
            seen = max(abs(ci[0] - ideal), abs(ci[1] - ideal)) if ci else abs(value - ideal)
            checks.append((f"within {bound:g} of the ideal {ideal:g}", seen, seen <= bound))
    if "min" in rule.params:
        seen = ci[0] if ci else value
        checks.append((f">= {rule.get('min'):g}", seen, seen >= float(rule.get("min"))))
    if "max" in rule.params:
        seen = ci[1] if ci else value
        checks.append((f"<= {rule.get('max'):g}", seen, seen <= float(rule.get("max"))))
    what = "CI bound" if ci else "value"
    ok = all(c[2] for c in checks)
    parts = [f"{what} {_fmt(seen)} {'is' if good else 'is not'} {desc}" for desc, seen, good in checks]
    has_ci = entry.get("ci") and None not in entry["ci"]
    ci_text = f" (CI {_fmt(entry['ci'][0])}..{_fmt(entry['ci'][1])})" if has_ci else ""
    return RuleResult(rule.name, rule.type, ok, f"{rule.get('metric')} = {_fmt(value)}{ci_text}: " + "; ".join(parts),
                      {"value": value, "ci": entry.get("ci")})


def _scores(rows: list[dict], field_name: str, who: str) -> dict:
    out = {}
    for row in rows:
        score = (row.get("scores") or {}).get(field_name)
        if score is None:
            raise _Missing(f"{who} samples carry no per-sample '{field_name}' score (set 'field:' in the rule)")
        out[row["doc_id"]] = (float(score), row.get("doc", row.get("doc_hash")))  # lm-eval rows carry a hash
    return out


def _regression(rule: GateRule, candidate: dict, baseline: dict | None, load_samples: Callable, alpha: float,
                seed: int, resamples: int, **_) -> RuleResult:
    cand_record, cand_entry = _metric(candidate, rule.get("task"), rule.get("metric"))
    base_record, base_entry = _metric(baseline or {}, rule.get("task"), rule.get("metric"), "baseline")
    if cand_entry["direction"] != base_entry["direction"]:
        raise _Missing(f"the metric is {base_entry['direction']}-is-better in the baseline and "
                       f"{cand_entry['direction']} in the candidate")
    if cand_entry["direction"] not in ("higher", "lower"):
        raise _Missing("a regression rule needs a higher- or lower-is-better metric; use a fairness rule for "
                       "ideal-valued metrics")
    field_name = rule.get("field", rule.get("metric"))
    cand = _scores(load_samples(cand_record), field_name, "candidate")
    base = _scores(load_samples(base_record), field_name, "baseline")
    shared = sorted(set(cand) & set(base), key=str)
    if not shared:
        raise _Missing("candidate and baseline share no doc_id; they were not scored on the same samples")
    changed = [d for d in shared if cand[d][1] is not None and base[d][1] is not None and cand[d][1] != base[d][1]]
    if changed:
        raise _Missing(f"{len(changed)} samples with the same doc_id differ in content (e.g. doc_id {changed[0]}); "
                       "the runs used different data")
    rule_alpha = float(rule.get("alpha", alpha))
    result = paired_regression_test(np.array([base[d][0] for d in shared]), np.array([cand[d][0] for d in shared]),
                                    direction=cand_entry["direction"], max_drop=float(rule.get("max_drop")),
                                    method=rule.get("test", "auto"),
                                    n_resamples=int(rule.get("resamples", resamples)), seed=seed)
    failed = result.rejects(rule_alpha)
    verdict = ("the drop exceeds the allowance (significant)" if failed
               else "no significant drop beyond the allowance")
    reason = (f"mean drop {result.mean_drop:+.4g} over {result.n} paired samples (baseline "
              f"{_fmt(base_entry['value'])}, candidate {_fmt(cand_entry['value'])}); {result.method} "
              f"p = {result.p_value:.4g} for 'drop <= {result.max_drop:g}' at alpha {rule_alpha:g}: {verdict}"
              f" [{result.detail}]")
    return RuleResult(rule.name, rule.type, not failed, reason, asdict(result))


def _fairness(rule: GateRule, candidate: dict, **_) -> RuleResult:
    record = find_task(candidate, rule.get("task"))
    if record is None:
        raise _Missing(f"candidate has no record for task '{rule.get('task')}'")
    names = rule.get("metric")
    names = [names] if isinstance(names, str) else list(names)
    if names == ["*"]:
        names = sorted(m for m, e in record["metrics"].items() if e.get("direction") == "ideal")
        if not names:
            raise _Missing(f"record '{record['task']}' has no ideal-valued metric")
    bound, use_ci, parts, ok = float(rule.get("max_gap")), rule.get("use_ci", True), [], True
    for name in names:
        _, entry = _metric(candidate, record["task"], name)
        if entry.get("direction") != "ideal":
            raise _Missing(f"'{name}' is {entry.get('direction')}-is-better, not ideal-valued; use a threshold rule")
        ideal, ci = float(entry["ideal"]), _ci(entry, use_ci)
        gap = max(abs(ci[0] - ideal), abs(ci[1] - ideal)) if ci else abs(float(entry["value"]) - ideal)
        ok &= gap <= bound
        parts.append(f"{name} = {_fmt(entry['value'])}, {'CI reaches' if ci else 'gap'} {_fmt(gap)} from ideal "
                     f"{ideal:g} ({'ok' if gap <= bound else 'exceeds'} {bound:g})")
    return RuleResult(rule.name, rule.type, ok, "; ".join(parts), {"metrics": names})


def _epsilon(rule: GateRule, candidate: dict, **_) -> RuleResult:
    if rule.get("task"):
        record = find_task(candidate, rule.get("task"))
        if record is None:
            raise _Missing(f"candidate has no record for task '{rule.get('task')}'")
        records = [record]
    else:
        # A model's own privacy claims: records carrying details["privacy"] (DP fine-tuning, privacy audits).
        # A utility-privacy curve is a privacy record about other checkpoints and makes no claim here.
        records = [r for _, r in sorted(candidate.items())
                   if r.get("category") == "privacy" and (r.get("details") or {}).get("privacy") is not None]
        if not records:
            raise _Missing("candidate has no privacy record (run DP fine-tuning or a privacy audit)")
    ceiling, parts, ok = float(rule.get("max")), [], True
    for record in records:
        entry = record["metrics"].get("epsilon")
        if entry is None:
            dp = ((record.get("details") or {}).get("privacy") or {}).get("dp")
            ok = False
            parts.append(f"{record['task']}: no epsilon ({'not trained with DP' if dp is False else 'metric missing'})")
            continue
        eps = float(entry["value"])
        violated = record["metrics"].get("dp_bound_violated")
        bad_bound = violated is not None and float(violated["value"]) != 0
        ok &= eps <= ceiling and not bad_bound
        parts.append(f"{record['task']}: epsilon {_fmt(eps)} ({entry.get('ci_method') or 'accountant unknown'}) "
                     f"{'<=' if eps <= ceiling else '>'} {ceiling:g}"
                     + ("; the empirical audit violates the DP bound" if bad_bound else ""))
    return RuleResult(rule.name, rule.type, ok, "; ".join(parts), {"tasks": [r["task"] for r in records]})


def _energy(rule: GateRule, candidate: dict, **_) -> RuleResult:
    """Energy per sample (pooled over the candidate's records, or one task's) at most the bound, labelled."""
    records = [find_task(candidate, rule.get("task"))] if rule.get("task") else list(candidate.values())
    if records == [None]:
        raise _Missing(f"candidate has no record for task '{rule.get('task')}'")
    blocks = [(r.get("manifest") or {}).get("energy") for r in records]
    blocks = [b for b in blocks if b and b.get("n_samples") and b.get("joules") is not None]
    if not blocks:
        raise _Missing("candidate records carry no energy figure (records written before energy was metered)")
    per_sample = sum(b["joules"] for b in blocks) / sum(b["n_samples"] for b in blocks)
    methods = sorted({b["method"] for b in blocks})
    label = "estimated" if "estimated" in methods else "measured"
    bound = float(rule.get("max_joules_per_sample"))
    ok = per_sample <= bound
    reason = f"{_fmt(per_sample)} J per sample ({label}: {', '.join(methods)}) {'<=' if ok else '>'} {bound:g}"
    if rule.get("require_measured", False) and label == "estimated":
        ok = False
        reason += "; the rule requires a measured figure (run where NVML or RAPL is readable)"
    return RuleResult(rule.name, rule.type, ok, reason, {"joules_per_sample": per_sample, "methods": methods})


def _subgroup(rule: GateRule, candidate: dict, baseline: dict | None, load_samples: Callable, alpha: float,
              seed: int, resamples: int, **_) -> RuleResult:
    """No protected group loses more than max_drop of its per-sample score against the baseline (e.g. a variant
    against its base): one one-sided paired test per group, each at alpha (a group fails only on evidence)."""
    cand_record, base_record = find_task(candidate, rule.get("task")), find_task(baseline or {}, rule.get("task"))
    if cand_record is None or base_record is None:
        raise _Missing(f"{'candidate' if cand_record is None else 'baseline'} has no record for task "
                       f"'{rule.get('task')}'")
    field_name = rule.get("field", "correct")
    cand = {r["doc_id"]: r for r in load_samples(cand_record) if isinstance(r.get("group"), dict)}
    base = {r["doc_id"]: r for r in load_samples(base_record) if isinstance(r.get("group"), dict)}
    shared = [d for d in base if d in cand and field_name in (base[d].get("scores") or {})
              and field_name in (cand[d].get("scores") or {})]
    if not shared:
        raise _Missing(f"no per-sample '{field_name}' scores with protected groups shared by candidate and baseline")
    groups: dict[str, list] = {}
    for d in shared:
        for attribute, value in base[d]["group"].items():
            groups.setdefault(f"{attribute}={value}" if "=" not in str(value) else str(value), []).append(d)
    rule_alpha, bound, parts, details, ok = float(rule.get("alpha", alpha)), float(rule.get("max_drop")), [], {}, True
    for name, ids in sorted(groups.items()):
        b = np.array([float(base[d]["scores"][field_name]) for d in ids])
        c = np.array([float(cand[d]["scores"][field_name]) for d in ids])
        result = paired_regression_test(b, c, direction="higher", max_drop=bound, method="auto" if bound == 0
                                        else "bootstrap", n_resamples=int(rule.get("resamples", resamples)),
                                        seed=seed)
        failed = result.rejects(rule_alpha)
        ok &= not failed
        details[name] = asdict(result)
        parts.append(f"{name}: drop {result.mean_drop:+.3g} over {result.n}, p = {result.p_value:.3g}"
                     + (" (exceeds)" if failed else ""))
    return RuleResult(rule.name, rule.type, ok, f"max drop {bound:g} in {field_name} per group at alpha "
                      f"{rule_alpha:g}: " + "; ".join(parts), details)


_EVALUATORS = {"threshold": _threshold, "regression": _regression, "fairness": _fairness, "epsilon": _epsilon,
               "energy": _energy, "subgroup": _subgroup}


def evaluate_policy(policy: Policy, candidate: dict[str, dict], baseline: dict[str, dict] | None = None, *,
                    load_samples: Callable | None = None, candidate_refs=(), baseline_refs=(),
                    seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> GateReport:
    """Every rule of `policy` on the given records (task -> record, as from results.select_records).

    `resamples` is the paired bootstrap's resample count for regression rules that do not set their own.
    """
    from evalsuite.leaderboards.results import load_samples as default_loader

    results = []
    for rule in policy.rules:
        try:
            results.append(_EVALUATORS[rule.type](rule, candidate=candidate, baseline=baseline,
                                                  load_samples=load_samples or default_loader, alpha=policy.alpha,
                                                  seed=seed, resamples=resamples))
        except _Missing as missing:
            results.append(RuleResult(rule.name, rule.type, False, str(missing)))
    return GateReport(policy.name, list(candidate_refs), list(baseline_refs), results)
