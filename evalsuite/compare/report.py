"""The comparison itself: differences from the base with paired tests, and per-subgroup flips.

Per-sample scores are joined by doc_id. A 0/1 score is tested with McNemar's exact test
(two-sided), any other with a paired percentile bootstrap; every difference carries a
paired-bootstrap 95% CI. A subgroup's flip rate is the share of its rows whose decision
differs from the base's, with a Wilson interval: one flipped decision is a fact, and the
interval says how large the group's true flip rate could be.
"""

from __future__ import annotations

import numpy as np

from evalsuite.records import read_jsonl, read_record
from evalsuite.stats import percentile_interval, resample_indices, wilson_interval

ALPHA = 0.05


def _paired_ci(d: np.ndarray, n_resamples: int, seed: int) -> tuple[float, float]:
    idx = resample_indices(len(d), n_resamples, seed)
    lo, hi = percentile_interval(d[idx].mean(axis=1))
    return float(lo), float(hi)


def paired_difference(base: np.ndarray, cand: np.ndarray, *, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of cand - base over aligned pairs, its CI and a two-sided p-value."""
    from evalsuite.leaderboards.paired_tests import is_binary, mcnemar_exact

    base, cand = np.asarray(base, float), np.asarray(cand, float)
    d = cand - base
    ci = _paired_ci(d, n_resamples, seed)
    if is_binary(base) and is_binary(cand):
        wins, losses = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
        p = min(1.0, 2 * min(mcnemar_exact(losses, wins), mcnemar_exact(wins, losses)))
        test = f"McNemar exact, two-sided ({losses} losses, {wins} wins)"
    else:
        idx = resample_indices(len(d), n_resamples, seed + 1)
        means = (d - d.mean())[idx].mean(axis=1)  # the null: no mean difference
        p = float((1 + np.count_nonzero(np.abs(means) >= abs(d.mean()))) / (1 + n_resamples))
        test = f"paired bootstrap, two-sided ({n_resamples} resamples)"
    return {"diff": float(d.mean()), "ci": list(ci), "p_value": float(p), "test": test, "n": int(len(d)),
            "significant": bool(p < ALPHA)}


def _rows_by_id(record: dict) -> dict:
    """The record's per-sample rows by doc_id, read once per record (the base's are compared with every variant)."""
    from pathlib import Path

    if "_rows" not in record:
        path = record.get("samples_file")
        rows = read_jsonl(Path(record["_path"]).parent / path, what="samples file") if path else []
        record["_rows"] = {r["doc_id"]: r for r in rows if "doc_id" in r and isinstance(r.get("scores"), dict)}
    return record["_rows"]


def _columns(record: dict, rows: dict) -> list[str]:
    """Per-sample score columns worth testing: those named like a metric, and 'correct'."""
    if not rows:
        return []
    first = next(iter(rows.values()))["scores"]
    names = set(record.get("metrics", {})) | {"correct"}
    return sorted(k for k, v in first.items() if k in names and isinstance(v, (int, float)))


def task_differences(base: dict, cand: dict, *, n_resamples: int, seed: int) -> list[dict]:
    b_rows, c_rows = _rows_by_id(base), _rows_by_id(cand)
    shared = sorted(set(b_rows) & set(c_rows), key=str)
    out = []
    for column in _columns(base, b_rows):
        pairs = [(b_rows[i]["scores"].get(column), c_rows[i]["scores"].get(column)) for i in shared]
        pairs = [(x, y) for x, y in pairs if isinstance(x, (int, float)) and isinstance(y, (int, float))]
        if len(pairs) < 2:
            continue
        b, c = np.array(pairs, dtype=float).T
        out.append({"task": base["task"], "column": column, "base": float(b.mean()), "value": float(c.mean()),
                    **paired_difference(b, c, n_resamples=n_resamples, seed=seed)})
    return out


def subgroup_flips(base: dict, cand: dict, *, n_resamples: int, seed: int) -> list[dict]:
    """Per protected group: share of decisions that changed, and the change in its accuracy."""
    b_rows, c_rows = _rows_by_id(base), _rows_by_id(cand)
    shared = [i for i in b_rows if i in c_rows and isinstance(b_rows[i].get("group"), dict)
              and "decision" in b_rows[i]["scores"] and "decision" in c_rows[i]["scores"]]
    if not shared:
        return []
    out = []
    attributes = sorted({a for i in shared for a in b_rows[i]["group"]})
    for attribute in attributes:
        values = sorted({str(b_rows[i]["group"].get(attribute)) for i in shared})
        for value in values:
            ids = [i for i in shared if str(b_rows[i]["group"].get(attribute)) == value]
            flips = sum(b_rows[i]["scores"]["decision"] != c_rows[i]["scores"]["decision"] for i in ids)
            lo, hi = wilson_interval(flips, len(ids))
            row = {"task": base["task"], "attribute": attribute, "group": value, "n": len(ids), "flips": int(flips),
                   "flip_rate": flips / len(ids), "flip_ci": [lo, hi], "flagged": bool(lo > 0)}
            if all("correct" in b_rows[i]["scores"] for i in ids):
                b = np.array([b_rows[i]["scores"]["correct"] for i in ids], float)
                c = np.array([c_rows[i]["scores"]["correct"] for i in ids], float)
                change = paired_difference(b, c, n_resamples=n_resamples, seed=seed)
                row.update(accuracy_change=change["diff"], accuracy_change_ci=change["ci"])
            out.append(row)
    return out


def _load(path) -> dict:
    record = read_record(path)
    record["_path"] = str(path)
    return record


def energy_summary(runs: list[dict]) -> dict:
    """Energy per sample over the measured repeats: mean, spread, and how it was obtained."""
    per_repeat, methods, assumption, seconds = [], set(), None, []
    for records in runs:
        joules = samples = 0.0
        for record in records.values():
            block = record.get("manifest", {}).get("energy")
            if not block or not block.get("n_samples"):
                continue
            joules += block["joules"]
            samples += block["n_samples"]
            seconds.append(block["wall_time_s"])
            methods.add(block["method"])
            assumption = assumption or block.get("assumption")
        if samples:
            per_repeat.append(joules / samples)
    if not per_repeat:
        return {"joules_per_sample": None, "method": None}
    values = np.array(per_repeat)
    return {"joules_per_sample": float(values.mean()),
            "spread": float(values.std(ddof=1)) if len(values) > 1 else None, "repeats": len(values),
            "method": "+".join(sorted(methods)), "estimated": "estimated" in methods, "assumption": assumption,
            "record_seconds": float(np.mean(seconds))}


def build_report(model: str, variants: list[dict], *, n_resamples: int = 2000, seed: int = 0) -> dict:
    """`variants`: [{"variant", "runs": [{task: record path}, ...] (last = the one compared), "size_bytes",
    "peak_rss_mib", "latency_ms"}], the base first."""
    loaded = [{**v, "records": [{t: _load(p) for t, p in run.items()} for run in v["runs"]]} for v in variants]
    base = loaded[0]
    rows, differences, flips = [], [], []
    for v in loaded:
        last = v["records"][-1]
        metrics = {t: {name: {k: m.get(k) for k in ("value", "ci", "direction")} for name, m in r["metrics"].items()}
                   for t, r in last.items()}
        rows.append({"variant": v["variant"], "run_ids": sorted({r["run_id"] for r in last.values()}),
                     "headline": {t: (r.get("headline") or next(iter(r["metrics"]), None)) for t, r in last.items()},
                     "metrics": metrics, "energy": energy_summary(v["records"][v.get("warmup", 0):]),
                     "size_bytes": v.get("size_bytes"), "peak_rss_mib": v.get("peak_rss_mib"),
                     "latency_ms": v.get("latency_ms")})
        if v is base:
            continue
        for task, record in last.items():
            if task not in base["records"][-1]:
                continue
            reference = base["records"][-1][task]
            for d in task_differences(reference, record, n_resamples=n_resamples, seed=seed):
                differences.append({"variant": v["variant"], **d})
            for f in subgroup_flips(reference, record, n_resamples=n_resamples, seed=seed):
                flips.append({"variant": v["variant"], **f})
    return {"model": model, "base": base["variant"], "variants": [v["variant"] for v in loaded],
            "rows": rows, "differences": differences, "flips": flips, "alpha": ALPHA}
