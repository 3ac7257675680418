"""Utility against privacy: fine-tune at several epsilons and without DP, evaluate each the same way.

Every checkpoint is evaluated by the runner (`run_resolved`, as `evalsuite run` does) on the same tasks (so each
also has its own capability records), and a `privacy_utility` record for the base
model collects the points in details["privacy_utility"] with a plot. The tasks
and every configuration are checked before the first model trains.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.privacy.config import DPConfig


def _label(epsilon: float | None) -> str:
    return "no_dp" if epsilon is None else f"eps_{epsilon:g}"


def utility_curve(model: str, source: dict, cfg: DPConfig, epsilons: list[float], tasks: list[str],
                  out: str | Path, *, tasks_path: list[str] = (), output_dir: str = "evalsuite-results",
                  limit: int | None = None, echo=print) -> dict:
    from evalsuite.config import RunConfig
    from evalsuite.privacy.checkpoint import check_output_dir
    from evalsuite.privacy.config import validate_config
    from evalsuite.privacy.data import prepare_data
    from evalsuite.privacy.finetune import finetune
    from evalsuite.records import read_record
    from evalsuite.runner import resolve_model, resolve_tasks, run_resolved

    if not epsilons:
        raise UserError("--epsilons is empty; give e.g. 1,4,16")
    # Resolved once: loading a --tasks-path folder a second time re-registers its tasks.
    resolved, lmeval = resolve_tasks(list(tasks), list(tasks_path))
    n_train = len(prepare_data(source, seed=cfg.seed, limit=limit).train_texts)
    configs = [(e, replace(cfg, dp=True, target_epsilon=e, noise_multiplier=None)) for e in epsilons]
    configs.append((None, replace(cfg, dp=False, target_epsilon=None, delta=None, noise_multiplier=None)))
    for _, c in configs:
        validate_config(c, n_train)
    out = check_output_dir(out)

    points = []
    for epsilon, c in configs:
        echo(f"[privacy-curve] fine-tuning {_label(epsilon)}")
        result = finetune(model, source, c, out / _label(epsilon), output_dir=output_dir, limit=limit, echo=echo)
        config = RunConfig(model=str(result.checkpoint), tasks=list(tasks), tasks_path=list(tasks_path),
                           output_dir=output_dir, progress=False, seed=c.seed)
        summary = run_resolved(resolve_model(config.model, config.adapter_options()), resolved, config,
                               lmeval=lmeval, echo=echo)
        for path in summary["records"].values():
            record = read_record(path)
            for name, m in record["metrics"].items():
                points.append({"epsilon": result.privacy.get("epsilon"), "target_epsilon": epsilon,
                               "task": record["task"], "metric": name, "value": m["value"], "ci": m["ci"],
                               "direction": m["direction"], "ideal": m["ideal"], "checkpoint": str(result.checkpoint),
                               "accountant": result.privacy.get("accountant")})
    return _record_curve(model, points, output_dir, cfg, echo)


def _record_curve(model: str, points: list[dict], output_dir: str, cfg: DPConfig, echo) -> dict:
    from evalsuite.config import RunConfig
    from evalsuite.fingerprint import sha256_json
    from evalsuite.jobs import Job, JobOutcome
    from evalsuite.privacy.plot import plot_utility_curve
    from evalsuite.records import metric_entry
    from evalsuite.runner import ResolvedTask, resolve_model, run_resolved

    def run_job(_model, ctx):
        plot_utility_curve(Path(ctx.artifacts_dir) / "utility_curve.png", points)
        metrics = {}
        for p in points:
            name = f"{p['task']}/{p['metric']}@{_label(p['target_epsilon'])}"
            metrics[name] = metric_entry(p["value"], {"direction": p["direction"], "ideal": p["ideal"]}, p["ci"],
                                         "from the checkpoint's record", 1)
        return JobOutcome(metrics=metrics, samples=[dict(doc_id=i, scores={"value": p["value"]}, **p)
                                                    for i, p in enumerate(points)],
                          data_hash=sha256_json(points), artifacts={"utility_plot": "utility_curve.png"},
                          details={"privacy_utility": [{k: p[k] for k in ("epsilon", "task", "metric", "value", "ci",
                                                                          "target_epsilon", "accountant")}
                                                       for p in points], "config": cfg.to_json()})

    job = Job(run=run_job, category="privacy", description="utility against privacy", name="privacy_utility")
    adapter = resolve_model(model, {"progress": False})
    config = RunConfig(model=model, tasks=["privacy_utility"], output_dir=output_dir, progress=False)
    return run_resolved(adapter, [ResolvedTask("privacy_utility", "native", spec=job)], config, echo=echo)
