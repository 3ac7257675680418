"""Aggregate records into leaderboard rows: normalised task scores, category scores, an overall score.

Per model, the newest record of each task counts. Each counted metric is
normalised (evalsuite.leaderboards.normalise: 0 = random baseline, 1 = best)
and weighted by task weight x metric weight / (sum of the task's metric
weights in that category), so a record with ten metrics weighs as much as one
with one. A metric counts in its record's category unless it names its own
(calibration and robustness metrics of a benchmark record, counterfactual gaps). A
category score is the weighted mean of its items; the overall score is the
weighted mean of the categories a model has (`coverage` says how many).

Confidence intervals are combined analytically, each side separately: an
item's interval [lo, hi] around score s is read as a normal error with
standard error (s - lo)/z below and (hi - s)/z above, items are taken as
independent, so the weighted mean's lower end is S - sqrt(sum (w_i (s_i - lo_i))^2) / sum w_i
(z cancels), and likewise above. Independence is exact across tasks on
different data and optimistic for metrics of one record (they share samples).
An item without an interval (an accountant's epsilon) counts as exact and the
combined interval is marked `ci_complete: false`.

Efficiency (tokens per second from the manifests) moves with machine load, so
one timing is not a result: each timed task's throughput is scored on a log
scale per record, averaged over its repeats (the model's records of that task
across runs), with a Student-t interval over the repeats. Only when every timed
task has `efficiency.min_repeats` timings does efficiency count in the overall;
otherwise it is reported with weight 0 (`counted: false`).

Ranking (evalsuite.leaderboards.ranking) shows the uncertainty: ranks only
among models scored on the same, most complete set of categories, a rank range
where overall intervals overlap, and partial-coverage rows after them, marked.
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


def _rule_for(definition: Definition, task: str, metric: str, own_category: bool = False) -> tuple[Rule, float] | None:
    """The rule and weight a metric counts with, or None when it does not count.

    A metric that names its own category (calibration, robustness, a counterfactual gap) counts by metric_rules
    even in a listed task, unless excluded: a listed task names its capability metrics only."""
    choice = definition.task_choice(task)
    if choice is not None and metric in choice.metrics:
        picked = choice.metrics[metric]
        return picked.rule, picked.weight
    if (choice is not None and not own_category) or (choice is None and not definition.other_records) \
            or definition.excluded(metric):
        return None
    return definition.metric_rule(metric) or Rule(), 1.0


def metric_category(entry: dict, record_category: str) -> str:
    """Where a metric counts: its own declared category, else its record's."""
    own = entry.get("category")
    return own if own in CATEGORIES else record_category


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


# Student t 97.5% quantiles for 1..30 degrees of freedom; beyond, the Cornish-Fisher expansion (error < 1e-5).
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281, 2.201, 2.1788, 2.1604,
         2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.093, 2.086, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
         2.0518, 2.0484, 2.0452, 2.0423)


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (the 95% two-sided multiplier)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def _energy(manifest: dict | None) -> tuple[float, float, str] | None:
    """(joules, samples, method) of a record's energy block, or None when it has no usable one."""
    block = (manifest or {}).get("energy") or {}
    joules, samples, method = block.get("joules"), block.get("n_samples"), block.get("method")
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
             for v in (joules, samples)) and isinstance(method, str)
    return (float(joules), float(samples), method) if ok else None


def efficiency_of(records: dict[str, dict], definition: Definition,
                  timings: dict[str, list[dict]] | None = None) -> dict | None:
    """Energy per sample of one model: pooled over its newest records, and a score with an interval from repeats.

    `timings` maps task -> the manifests of every record of that task (all of the model's runs); without
    it each task has one measurement (its newest record). Per task, each measurement scores
    log(worst / J) / log(worst / best) (clipped to [0, 1]); the task's score is their mean with a t-interval
    over the repeats, and the model's score is the equal-weight mean over tasks (intervals combined as above).
    `method` is 'estimated' when any figure is an estimate, so estimated and measured rows are never ranked
    against each other unmarked.
    """
    measured = {task: _energy(r.get("manifest")) for task, r in records.items()}
    measured = {task: m for task, m in measured.items() if m is not None}
    if not measured:
        return None
    joules = sum(m[0] for m in measured.values())
    samples = sum(m[1] for m in measured.values())
    span = math.log(definition.efficiency_worst / definition.efficiency_best)
    items, repeats, methods = [], [], {m[2] for m in measured.values()}
    for task in sorted(measured):
        runs = [m for m in (_energy(x) for x in (timings or {}).get(task, [])) if m is not None] or [measured[task]]
        scores = [min(1.0, max(0.0, math.log(definition.efficiency_worst / (j / n)) / span)) for j, n, _ in runs]
        k, mean = len(scores), sum(scores) / len(scores)
        ci = None
        if k >= 2:
            sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / (k - 1))
            half = t_quantile_975(k - 1) * sd / math.sqrt(k)
            ci = (max(0.0, mean - half), min(1.0, mean + half))
        items.append((Score(mean, ci), 1.0))
        repeats.append(k)
    combined = combine(items)
    counted = min(repeats) >= definition.efficiency_min_repeats
    note = "" if counted else (f"measured {min(repeats)}x; needs {definition.efficiency_min_repeats} runs of every "
                               "task to count in the overall (one measurement moves with machine load)")
    method = "estimated" if "estimated" in methods else "measured"
    return {"joules_per_sample": joules / samples, "joules": joules, "samples": samples,
            "n_records": len(measured), "method": method, "methods": sorted(methods),
            "score": combined["score"], "ci": combined["ci"] if min(repeats) >= 2 else None,
            "repeats": min(repeats), "counted": counted, "note": note}


def score_model(model: str, records: dict[str, dict], definition: Definition, load_samples: Callable,
                timings: dict[str, list[dict]] | None = None) -> dict:
    """One leaderboard row: per-task metrics with scores, category scores, overall, plot data."""
    tasks, by_category, contributors = [], {c: [] for c in CATEGORIES}, {c: set() for c in CATEGORIES}
    for task_name in sorted(records):
        record = records[task_name]
        choice = definition.task_choice(task_name)
        if choice is None and not definition.other_records:
            continue
        category = (choice.category if choice and choice.category else None) or record.get("category") or "capability"
        counted, metrics = [], []
        for metric, entry in sorted(record["metrics"].items()):
            where = metric_category(entry, category)
            picked = _rule_for(definition, task_name, metric, own_category=entry.get("category") in CATEGORIES)
            row = {"metric": metric, "value": entry.get("value"), "ci": entry.get("ci"),
                   "direction": entry.get("direction"), "ideal": entry.get("ideal"), "n": entry.get("n"),
                   "ci_method": entry.get("ci_method"), "score": None, "score_ci": None, "counted": False,
                   "category": where, "note": "not part of this leaderboard"}
            if picked is not None:
                score, why = _score_metric(entry, picked[0], record, load_samples)
                if score is not None:
                    row.update(score=score.value, score_ci=list(score.ci) if score.ci else None, counted=True,
                               note="")
                    counted.append((score, picked[1], where))
                else:
                    row["note"] = why
            metrics.append(row)
        if choice is not None:
            missing = sorted(set(choice.metrics) - set(record["metrics"]))
            if missing:
                raise UserError(f"task '{task_name}' of model '{model}' has no metric {missing}; the leaderboard "
                                f"definition {definition.source} names it")
        task_weight = choice.weight if choice else 1.0
        totals: dict[str, float] = {}  # per category, so a task weighs task_weight in each category it reaches
        for _, w, where in counted:
            totals[where] = totals.get(where, 0.0) + w
        for score, w, where in counted:
            by_category[where].append((score, task_weight * w / totals[where]))
            contributors[where].add(task_name)
        summary = combine([(s, w) for s, w, _ in counted])
        tasks.append({"task": task_name, "category": category, "run_id": record.get("run_id"),
                      "score": summary["score"] if summary else None, "ci": summary["ci"] if summary else None,
                      "metrics": metrics, "artifacts": record.get("artifacts") or {},
                      "manifest": {k: record.get("manifest", {}).get(k) for k in ("wall_time_s", "tokens_processed")}})
    categories = {}
    efficiency = efficiency_of(records, definition, timings)
    for category, weight in definition.categories.items():
        if category == "efficiency":
            cell = None if efficiency is None else {
                "score": efficiency["score"], "ci": efficiency["ci"], "ci_complete": efficiency["ci"] is not None,
                "label": efficiency["method"],
                "n_tasks": efficiency["n_records"], "counted": efficiency["counted"], "note": efficiency["note"]}
        else:
            cell = combine(by_category[category])
            if cell is not None:
                cell.update(n_tasks=len(contributors[category]), counted=True, note="")
        if cell is not None and weight <= 0:
            cell.update(counted=False, note="weight 0 in this leaderboard")
        categories[category] = cell
    counted = [name for name, cell in categories.items() if cell is not None and cell["counted"]]
    present = [(Score(categories[c]["score"], tuple(categories[c]["ci"]) if categories[c]["ci"] else None),
                definition.categories[c]) for c in counted]
    return {"model": model, "overall": combine(present), "coverage": len(counted),
            "coverage_of": sum(1 for w in definition.categories.values() if w > 0), "counted_categories": counted,
            "categories": categories, "tasks": tasks, "efficiency": efficiency,
            "privacy_utility": _detail_rows(records, "privacy_utility", "source"),
            "fairness_groups": _detail_rows(records, "groups", "task")}


def _detail_rows(records: dict[str, dict], detail: str, task_key: str) -> list[dict]:
    """Every record's details[detail] rows (privacy-utility points, per-group rates), tagged with the task."""
    rows = []
    for task, record in sorted(records.items()):
        for row in (record.get("details") or {}).get(detail) or []:
            rows.append({task_key: task, **row})
    return rows


def timings_by_model(store) -> dict[str, dict[str, list[dict]]]:
    """model -> task -> the manifests of every record of that task, across all of the model's runs (repeats)."""
    from evalsuite.leaderboards.results import records_of_run

    out: dict[str, dict[str, list[dict]]] = {}
    for run in store.runs():
        for task, record in records_of_run(store, run["run_id"]).items():
            out.setdefault(run["model"], {}).setdefault(task, []).append(record.get("manifest") or {})
    return out


def build_leaderboard(records_by_model: dict[str, dict[str, dict]], definition: Definition,
                      load_samples: Callable | None = None,
                      timings: dict[str, dict[str, list[dict]]] | None = None) -> dict:
    """Every model scored under `definition` and ranked, as the JSON the site reads.

    `records_by_model` is model -> task -> record (results.latest_records_by_model(store)); `timings` is
    timings_by_model(store), the repeats efficiency needs (without it every task counts as timed once).
    The models come in ranking order (evalsuite.leaderboards.ranking).
    """
    from evalsuite.leaderboards.ranking import rank_models
    from evalsuite.leaderboards.results import load_samples as default_loader

    models = [score_model(model, records, definition, load_samples or default_loader, (timings or {}).get(model))
              for model, records in sorted(records_by_model.items())]
    models, ranking = rank_models(models, list(definition.categories))
    return {"name": definition.name, "title": definition.title, "definition": definition.source,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "categories": list(definition.categories), "category_weights": definition.categories,
            "ranking": ranking, "models": models}


def ranking_text(board: dict) -> str:
    """The ranking as a plain-text table for the terminal (names made terminal-safe)."""
    from evalsuite.leaderboards.ranking import ranking_lines

    return "\n".join(ranking_lines(board))
