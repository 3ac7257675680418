"""Record builders for the leaderboard tests: synthetic runs written the way the runner writes them.

Synthetic records follow the shared record conventions (fairness, privacy,
explainability) and go through the same writers the runner uses
(records.write_record + ResultsStore.add_record), so readers see exactly what
real jobs will write.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from evalsuite.records import atomic_write_json, metric_entry, write_record
from evalsuite.store import ResultsStore
from evalsuite.task_types import HIGHER, LOWER, ideal

EVIL_MODEL = "<script>window.__pwned=1</script><b>x</b>"
_CLOCK = [datetime(2026, 1, 1, tzinfo=timezone.utc)]


def entry(value, direction="higher", ci=None, n=100, ideal_value=None, ci_method="bootstrap-percentile"):
    d = {"higher": HIGHER, "lower": LOWER}.get(direction) or ideal(ideal_value)
    return metric_entry(value, d.to_json(), tuple(ci) if ci else None, ci_method, n)


def mc_samples(correct, k=4, docs=None):
    """Multiple-choice sample rows as the runner writes them: doc_id, doc and scores {acc, n_choices}."""
    return [{"doc_id": i, "doc": (docs[i] if docs else {"id": f"q{i}"}),
             "scores": {"acc": float(c), "n_choices": float(k)}} for i, c in enumerate(correct)]


def record_spec(metrics, *, category="capability", samples=None, details=None, artifacts=None, wall=1.0, tokens=0,
                energy=None, method="estimated"):
    """`energy`: (joules, samples) for the manifest's energy block (none without it)."""
    manifest = {"wall_time_s": wall, "tokens_processed": tokens, "seed": 1, "task_hash": "abc123def4567890",
                "data_hash": "d"}
    if energy is not None:
        manifest["energy"] = {"method": method, "joules": energy[0], "n_samples": energy[1], "wall_time_s": wall,
                              "devices": ["cpu"], **({"assumption": "a 10 W machine (test)"}
                                                     if method == "estimated" else {})}
    return {"metrics": metrics, "category": category, "samples": samples or [], "details": details or {},
            "artifacts": artifacts or {}, "manifest": manifest}


def write_run(results_dir: Path, model: str, tasks: dict[str, dict], files: dict | None = None) -> str:
    """A run folder and store entries for `model`, one record per task; returns the run id.

    Runs get increasing start times in creation order, so the newest-record rules are deterministic.
    `files` maps task -> {file name: bytes} written next to the record (artifacts).
    """
    _CLOCK[0] += timedelta(minutes=1)
    started = _CLOCK[0]
    run_id = f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    run_dir = Path(results_dir) / "runs" / run_id
    summary = {"run_id": run_id, "model": model, "fingerprint": {"name": model}, "status": "complete",
               "started_at": started.isoformat(), "finished_at": started.isoformat(), "path": str(run_dir),
               "config": {}, "records": {}}
    store = ResultsStore(Path(results_dir) / "index.sqlite")
    try:
        for task, spec in tasks.items():
            record = {"run_id": run_id, "model": model, "task": task, "task_source": "native",
                      "category": spec["category"], "metrics": spec["metrics"], "artifacts": spec["artifacts"],
                      "details": spec["details"], "manifest": spec["manifest"]}
            path = write_record(run_dir, task, record, spec["samples"])
            for name, blob in (files or {}).get(task, {}).items():
                (path.parent / name).write_bytes(blob)
            store.add_record(run_id, task, path, spec["metrics"])
            summary["records"][task] = str(path)
        atomic_write_json(run_dir / "run.json", summary)
        store.upsert_run(summary)
    finally:
        store.close()
    return run_id


def fairness_record(spd=-0.05, spd_ci=(-0.12, 0.02), di=0.93, di_ci=(0.8, 1.05)):
    groups = [{"attribute": "sex", "group": "sex=0", "n": 120,
               "rates": {"base_rate": [0.4, 0.31, 0.49], "selection_rate": [0.42, 0.33, 0.51],
                         "tpr": [0.8, 0.7, 0.9], "fpr": [0.1, 0.05, 0.16]}},
              {"attribute": "sex", "group": "sex=1", "n": 130,
               "rates": {"base_rate": [0.45, 0.37, 0.53], "selection_rate": [0.47, 0.39, 0.55],
                         "tpr": [0.82, 0.73, 0.9], "fpr": [0.12, 0.06, 0.18]}}]
    return record_spec({"statistical_parity_difference": entry(spd, "ideal", spd_ci, 250, 0.0),
                        "disparate_impact": entry(di, "ideal", di_ci, 250, 1.0),
                        "accuracy": entry(0.81, "higher", (0.76, 0.86), 250)},
                       category="fairness", details={"groups": groups}, artifacts={"groups_plot": "groups.svg"})


def privacy_record(epsilon=3.0, dp=True, violated=0.0):
    metrics = {"mia_auc": entry(0.53, "ideal", (0.5, 0.56), 400, 0.5),
               "mia_tpr_at_fpr_0.01": entry(0.012, "lower", (0.004, 0.02), 400),
               "dp_bound_violated": entry(violated, "lower", None, 400, ci_method="audit")}
    privacy = {"dp": dp}
    if dp:
        metrics["epsilon"] = entry(epsilon, "lower", None, 1, ci_method="accountant:prv")
        metrics["delta"] = entry(1e-5, "lower", None, 1, ci_method="setting")
        privacy.update(accountant="prv", noise_multiplier=1.1, sample_rate=0.01, steps=300, max_grad_norm=1.0,
                       epsilon=epsilon, delta=1e-5, target_epsilon=epsilon)
    curve = [{"epsilon": 1.0, "task": "demo_facts_mc", "metric": "acc", "value": 0.55, "ci": [0.45, 0.65]},
             {"epsilon": 3.0, "task": "demo_facts_mc", "metric": "acc", "value": 0.7, "ci": [0.61, 0.79]},
             {"epsilon": None, "task": "demo_facts_mc", "metric": "acc", "value": 0.9, "ci": [0.84, 0.95]}]
    return record_spec(metrics, category="privacy", details={"privacy": privacy, "privacy_utility": curve})


def explain_record():
    return record_spec({"comprehensiveness": entry(0.4, "higher", (0.35, 0.45), 50),
                        "sufficiency": entry(0.2, "lower", (0.15, 0.25), 50),
                        "random_baseline_comprehensiveness": entry(0.1, "higher", (0.05, 0.15), 50),
                        "infidelity": entry(3.5, "lower", (3.0, 4.0), 50)},
                       category="explainability")


def bernoulli_correct(p: float, n: int, seed: int) -> list[int]:
    return [int(x) for x in (np.random.default_rng(seed).random(n) < p)]
