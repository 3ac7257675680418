"""Aggregate records into leaderboard rows: normalised task scores, category scores, an overall score.

Per model, the newest record of each task counts. Each counted metric is
normalised (evalsuite.leaderboards.normalise: 0 = random baseline, 1 = best)
and weighted by task weight x metric weight / (sum of the task's metric
weights), so a record with ten metrics weighs as much as one with one. A
category score is the weighted mean of its items; the overall score is the
weighted mean of the categories a model has (`coverage` says how many).

Confidence intervals are combined analytically, each side separately: an
item's interval [lo, hi] around score s is read as a normal error with
standard error (s - lo)/z below and (hi - s)/z above, items are taken as
independent, so the weighted mean's lower end is S - sqrt(sum (w_i (s_i - lo_i))^2) / sum w_i
(z cancels), and likewise above. Independence is exact across tasks on
different data and optimistic for metrics of one record (they share samples).
An item without an interval (an accountant's epsilon, throughput) counts as
exact and the combined interval is marked `ci_complete: false`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone

from evalsuite.errors import UserError
from evalsuite.leaderboards.definition import CATEGORIES, Definition
from evalsuite.leaderboards.normalise import Rule, Score, chance_baseline, normalise


def combine(items: list[tuple[Score, float]]) -> dict | None:
    """Weighted mean of scores with its interval (see the module docstring); None for no items."""
    items = [(s, w) for s, w in items if w > 0]
    if not items:
        return None
    total = sum(w for _, w in items)
    mean = sum(s.value * w for s, w in items) / total
    below = math.sqrt(sum((w * (s.value - s.ci[0])) ** 2 for s, w in items if s.ci)) / total
    above = math.sqrt(sum((w * (s.ci[1] - s.value)) ** 2 for s, w in items if s.ci)) / total
    return {"score": mean, "ci": [mean - below, mean + above], "ci_complete": all(s.ci for s, _ in items)}


def _rule_for(definition: Definition, task: str, metric: str) -> tuple[Rule, float] | None:
    """The rule and weight a metric counts with, or None when it does not count."""
    choice = definition.task_choice(task)
    if choice is not None:
        picked = choice.metrics.get(metric)
        return None if picked is None else (picked.rule, picked.weight)
    if not definition.other_records or definition.excluded(metric):
        return None
    return definition.metric_rules.get(metric, Rule()), 1.0


def _score_metric(entry: dict, rule: Rule, record: dict, load_samples: Callable) -> tuple[Score | None, str]:
    """A metric's normalised score, or None and the reason it is not scored."""
    if entry.get("value") is None or not math.isfinite(float(entry["value"])):
        return None, "no finite value"
    if rule.is_default() and entry["direction"] in ("higher", "lower") and not 0 <= entry["value"] <= 1:
        return None, "unbounded metric without a rule in the leaderboard definition"
    override = None
    if rule.chance == "auto":
        counts = [row.get("scores", {}).get("n_choices") for row in load_samples(record)]
        if not counts or any(c is None for c in counts):
            raise UserError(f"task '{record['task']}': 'chance: auto' needs samples with scores.n_choices; "
                            "give 'chance: K' in the leaderboard definition")
        override = chance_baseline([float(c) for c in counts])
    try:
        return normalise(entry, rule, baseline_override=override), ""
    except ValueError as exc:
        raise UserError(f"task '{record['task']}': cannot normalise its metric ({exc}); fix the leaderboard "
                        "definition") from None


def efficiency_of(records: dict[str, dict], definition: Definition) -> dict | None:
    """Throughput over every record that counted tokens: total tokens / total wall time, on a log scale."""
    timed = [r.get("manifest") or {} for r in records.values()]
    timed = [m for m in timed if (m.get("tokens_processed") or 0) > 0 and (m.get("wall_time_s") or 0) > 0]
    if not timed:
        return None
    tokens = sum(m["tokens_processed"] for m in timed)
    seconds = sum(m["wall_time_s"] for m in timed)
    rate = tokens / seconds
    score = math.log(rate / definition.efficiency_floor) / math.log(
        definition.efficiency_ceiling / definition.efficiency_floor)
    return {"tokens_per_s": rate, "tokens": tokens, "wall_time_s": seconds, "score": score, "n_records": len(timed)}


def score_model(model: str, records: dict[str, dict], definition: Definition, load_samples: Callable) -> dict:
    """One leaderboard row: per-task metrics with scores, category scores, overall, plot data."""
    tasks, by_category = [], {c: [] for c in CATEGORIES}
    for task_name in sorted(records):
        record = records[task_name]
        choice = definition.task_choice(task_name)
        if choice is None and not definition.other_records:
            continue
        category = (choice.category if choice and choice.category else None) or record.get("category") or "capability"
        counted, metrics = [], []
        for metric, entry in sorted(record["metrics"].items()):
            picked = _rule_for(definition, task_name, metric)
            row = {"metric": metric, "value": entry.get("value"), "ci": entry.get("ci"),
                   "direction": entry.get("direction"), "ideal": entry.get("ideal"), "n": entry.get("n"),
                   "ci_method": entry.get("ci_method"), "score": None, "score_ci": None, "counted": False,
                   "note": "not part of this leaderboard"}
            if picked is not None:
                score, why = _score_metric(entry, picked[0], record, load_samples)
                if score is not None:
                    row.update(score=score.value, score_ci=list(score.ci) if score.ci else None, counted=True,
                               note="")
                    counted.append((score, picked[1]))
                else:
                    row["note"] = why
            metrics.append(row)
        if choice is not None:
            missing = sorted(set(choice.metrics) - set(record["metrics"]))
            if missing:
                raise UserError(f"task '{task_name}' of model '{model}' has no metric {missing}; the leaderboard "
                                f"definition {definition.source} names it")
        task_weight = choice.weight if choice else 1.0
        metric_total = sum(w for _, w in counted)
        for score, w in counted:
            by_category[category].append((score, task_weight * w / metric_total))
        summary = combine([(s, w) for s, w in counted])
        tasks.append({"task": task_name, "category": category, "run_id": record.get("run_id"),
                      "score": summary["score"] if summary else None, "ci": summary["ci"] if summary else None,
                      "metrics": metrics, "artifacts": record.get("artifacts") or {},
                      "manifest": {k: record.get("manifest", {}).get(k) for k in ("wall_time_s", "tokens_processed")}})
    categories = {}
    for category in definition.categories:
        if category == "efficiency":
            eff = efficiency_of(records, definition)
            categories[category] = None if eff is None else {"score": eff["score"], "ci": None, "ci_complete": False,
                                                             "n_tasks": eff["n_records"]}
            continue
        combined = combine(by_category[category])
        if combined is not None:
            combined["n_tasks"] = sum(1 for t in tasks if t["category"] == category and t["score"] is not None)
        categories[category] = combined
    present = [(Score(c["score"], tuple(c["ci"]) if c["ci"] else None), definition.categories[name])
               for name, c in categories.items() if c is not None]
    return {"model": model, "overall": combine(present), "coverage": sum(1 for c in categories.values() if c),
            "categories": categories, "tasks": tasks, "efficiency": efficiency_of(records, definition),
            "privacy_utility": _detail_rows(records, "privacy_utility", "source"),
            "fairness_groups": _detail_rows(records, "groups", "task")}


def _detail_rows(records: dict[str, dict], detail: str, task_key: str) -> list[dict]:
    """Every record's details[detail] rows (privacy-utility points, per-group rates), tagged with the task."""
    rows = []
    for task, record in sorted(records.items()):
        for row in (record.get("details") or {}).get(detail) or []:
            rows.append({task_key: task, **row})
    return rows


def build_leaderboard(records_by_model: dict[str, dict[str, dict]], definition: Definition,
                      load_samples: Callable | None = None) -> dict:
    """Every model scored under `definition`, as the JSON the site reads.

    `records_by_model` is model -> task -> record (results.latest_records_by_model(store)).
    """
    from evalsuite.leaderboards.results import load_samples as default_loader

    models = [score_model(model, records, definition, load_samples or default_loader)
              for model, records in sorted(records_by_model.items())]
    return {"name": definition.name, "title": definition.title, "definition": definition.source,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "categories": list(definition.categories), "category_weights": definition.categories,
            "models": models}
