"""`run()`: the one entry point the CLI and Python users share.

Resolve tasks (cheap, so typos fail before a model is loaded), resolve and
load the model, then per task: ask the model through the cached engine, score
samples, reduce metrics with confidence intervals, and write one record per
(model, task) atomically and index it in the results store.
"""

from __future__ import annotations

import inspect
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from evalsuite.config import RunConfig
from evalsuite.errors import UserError, suggest
from evalsuite.registry import REGISTRY

CACHE_FILE, STORE_FILE = "cache.sqlite", "index.sqlite"


@dataclass
class ResolvedTask:
    name: str
    source: str  # "native" or "lm-eval"
    entry: object = None  # the registry entry of a native task
    spec: object = None  # a ready-built Task or Job (Python callers and commands such as `evalsuite audit`)

    def build(self, options: dict | None = None):
        """The Task or Job; a task function's own keyword parameters are filled from `--task-args`."""
        if self.spec is not None:
            return self.spec
        factory = self.entry.obj
        accepted = inspect.signature(factory).parameters
        return factory(**{k: v for k, v in (options or {}).items() if k in accepted})

    def code_hash_source(self) -> str:
        """The source a task hash covers: the module that defines the task."""
        target = self.entry.obj if self.entry is not None else getattr(self.spec, "run", None) or self.spec.score
        try:
            return inspect.getsource(inspect.getmodule(target))
        except (OSError, TypeError):
            return repr(target)


def resolve_tasks(names: list[str], tasks_path: list[str]):
    from evalsuite.lmeval.tasks import LMEvalTasks

    if not names:
        raise UserError("no tasks given; pass --tasks NAME[,NAME...] (see: evalsuite list tasks)")
    for folder in tasks_path:
        REGISTRY.load_path(folder)
    lmeval = LMEvalTasks(list(tasks_path))
    resolved = []
    for name in names:
        explicit_lmeval = name.startswith("lm_eval/")
        entry = None if explicit_lmeval else REGISTRY.find("task", name)
        if entry is not None:
            resolved.append(ResolvedTask(entry.name, "native", entry))
            continue
        bare = name.removeprefix("lm_eval/")
        if lmeval.has(bare):
            resolved.append(ResolvedTask(bare, "lm-eval"))
            continue
        known = [e.name for e in REGISTRY.entries("task")] + lmeval.names()
        raise UserError(f"unknown task '{name}'.{suggest(bare, known)} (see: evalsuite list tasks)")
    return resolved, lmeval


def resolve_model(spec: str, options: dict):
    """`adapter:spec`, a registered model name, or a local/cached Hugging Face model."""
    from evalsuite.models.hf_loading import resolve_local

    adapter, _, rest = spec.partition(":")
    if rest and REGISTRY.find("model", adapter) is not None and not Path(spec).exists():
        return REGISTRY.get("model", adapter).obj(rest, **options)
    entry = REGISTRY.find("model", spec)
    if entry is not None:
        return entry.obj(spec, **options)
    if resolve_local(spec) is not None:
        return REGISTRY.get("model", "evalsuite/hf").obj(spec, **options)
    known = [e.name for e in REGISTRY.entries("model")]
    raise UserError(f"unknown model '{spec}': not a registered model, a local folder or a cached Hugging Face "
                    f"model.{suggest(spec, known)} (see: evalsuite list models)")


def run(config: RunConfig, *, echo=print) -> dict:
    """Evaluate `config.model` on `config.tasks`; returns the run summary (also in run.json)."""
    tasks, lmeval = resolve_tasks(config.tasks, config.tasks_path)
    _check_limit(config)
    _build_native(tasks, config)  # a task's bad data or options fail before the model loads
    model = resolve_model(config.model, config.adapter_options())
    return run_resolved(model, tasks, config, lmeval=lmeval, echo=echo)


def _build_native(tasks: list[ResolvedTask], config: RunConfig) -> None:
    for task in tasks:
        if task.source == "native" and task.spec is None:
            task.spec = task.build(config.job_options)


def _check_limit(config: RunConfig) -> None:
    if config.limit is not None and config.limit < 1:
        raise UserError(f"--limit must be a positive number of samples, got {config.limit}")


def run_resolved(model, tasks: list[ResolvedTask], config: RunConfig, *, lmeval=None, echo=print) -> dict:
    """Evaluate an adapter already built on tasks already resolved: one run folder, one record per task.

    `evalsuite run` comes here through `run()`; commands that build their own adapter and job
    (`evalsuite audit`, `evalsuite finetune`) come here directly, so every result lands the same way.
    """
    from evalsuite.cache import RequestCache
    from evalsuite.fingerprint import hardware, package_versions
    from evalsuite.records import atomic_write_json, slug, write_record
    from evalsuite.store import ResultsStore

    _check_limit(config)
    _build_native(tasks, config)
    out = config.output_path
    started = datetime.now(timezone.utc)
    run_id = f"{started:%Y%m%dT%H%M%S}-{slug(model.name)[:40]}-{secrets.token_hex(3)}"
    run_dir = out / "runs" / run_id
    summary = {"schema_version": 1, "run_id": run_id, "model": model.name, "fingerprint": model.fingerprint(),
               "status": "running", "started_at": started.isoformat(), "finished_at": None,
               "path": str(run_dir), "config": config.to_json(), "tasks": [t.name for t in tasks], "records": {}}
    store = ResultsStore(out / STORE_FILE)
    cache = RequestCache(out / CACHE_FILE) if config.use_cache else None
    try:
        atomic_write_json(run_dir / "run.json", summary)
        store.upsert_run(summary)
        env = {"packages": package_versions(), "hardware": hardware(), "seed": config.seed}
        for task in tasks:
            t0, tokens0 = time.perf_counter(), getattr(model, "tokens_processed", 0)
            if config.progress:
                echo(f"[evalsuite] {task.name} ...")
            if task.source == "native":
                outcome = _evaluate_native(task, model, cache, config, run_dir / slug(task.name), echo)
            else:
                from evalsuite.lmeval.tasks import run_lmeval_task

                outcome = run_lmeval_task(task.name, model, cache, lmeval, limit=config.limit, seed=config.seed)
            manifest = {"model_fingerprint": model.fingerprint(), "task_hash": outcome["task_hash"],
                        "data_hash": outcome["data_hash"], **env, "limit": config.limit,
                        "wall_time_s": round(time.perf_counter() - t0, 3),
                        "tokens_processed": getattr(model, "tokens_processed", 0) - tokens0}
            record = {"run_id": run_id, "model": model.name, "task": task.name, "task_source": task.source,
                      "category": outcome.get("category", "capability"), "metrics": outcome["metrics"],
                      "artifacts": outcome.get("artifacts", {}), "details": outcome.get("details", {}),
                      "manifest": manifest}
            path = write_record(run_dir, task.name, record, outcome["samples"])
            store.add_record(run_id, task.name, path, outcome["metrics"])
            summary["records"][task.name] = str(path)
            atomic_write_json(run_dir / "run.json", summary)
        summary["status"] = "complete"
    except BaseException:
        # Finished records stay (each is whole); a run with none leaves nothing behind.
        if not summary["records"]:
            shutil.rmtree(run_dir, ignore_errors=True)
            store.delete_run(run_id)
            raise
        summary["status"] = "incomplete"
        raise
    finally:
        if summary["records"]:
            summary["finished_at"] = datetime.now(timezone.utc).isoformat()
            atomic_write_json(run_dir / "run.json", summary)
            store.upsert_run(summary)
        store.close()
        if cache is not None:
            cache.close()
    return summary


def _evaluate_native(task: ResolvedTask, model, cache, config: RunConfig, folder: Path, echo) -> dict:
    import numpy as np

    from evalsuite.answering import answer
    from evalsuite.fingerprint import sha256_json, sha256_text
    from evalsuite.records import metric_entry
    from evalsuite.requests import result_to_json
    from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci

    from evalsuite.jobs import Job

    spec = task.build()
    if isinstance(spec, Job):
        return _evaluate_job(task, spec, model, cache, config, folder, echo)
    docs = list(spec.docs)[: config.limit] if config.limit else list(spec.docs)
    if not docs:
        raise UserError(f"task '{task.name}' has no samples; check its data file")
    per_doc = [spec.requests(doc) for doc in docs]
    flat = [r for reqs in per_doc for r in reqs]
    results = answer(model, flat, cache)
    samples, scores, at = [], [], 0
    for i, (doc, reqs) in enumerate(zip(docs, per_doc)):
        got = results[at: at + len(reqs)]
        at += len(reqs)
        score = spec.score(doc, got)
        scores.append(score)
        samples.append({"doc_id": i, "doc": doc, "requests": [asdict(r) for r in reqs],
                        "results": [result_to_json(r) for r in got], "scores": score})
    columns = {k: np.array([s[k] for s in scores], dtype=float) for k in scores[0]}
    metrics = {}
    for m in spec.metrics:
        reducer = REGISTRY.get("metric", m.reducer).obj
        value = float(reducer(columns, **m.args))
        ci = bootstrap_ci(columns, lambda c, r=reducer, a=m.args: r(c, **a),
                          n_resamples=config.bootstrap_resamples, seed=config.seed)
        # A metric over a subgroup names its 0/1 membership column as args["mask"]: n counts the members.
        n = int(np.count_nonzero(columns[m.args["mask"]])) if "mask" in m.args else len(docs)
        metrics[m.name] = metric_entry(value, m.direction.to_json(), ci, BOOTSTRAP_METHOD, n)
    return {"metrics": metrics, "samples": samples, "category": spec.category,
            "task_hash": sha256_text(f"{spec.version}\n{task.code_hash_source()}"), "data_hash": sha256_json(docs)}


def _evaluate_job(task: ResolvedTask, job, model, cache, config: RunConfig, folder: Path, echo) -> dict:
    from evalsuite.fingerprint import sha256_text
    from evalsuite.jobs import CATEGORIES, JobContext

    if job.category not in CATEGORIES:
        raise UserError(f"task '{task.name}' has category '{job.category}'; use one of {', '.join(CATEGORIES)}")
    job.check_model(model, task.name)
    folder.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(artifacts_dir=folder, seed=config.seed, limit=config.limit,
                     bootstrap_resamples=config.bootstrap_resamples, cache=cache, progress=config.progress,
                     echo=echo, options=dict(config.job_options))
    outcome = job.run(model, ctx)
    missing = [f for f in outcome.artifacts.values() if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"task '{task.name}' listed artifacts it did not write: {missing}")
    return {"metrics": outcome.metrics, "samples": outcome.samples, "category": job.category,
            "artifacts": outcome.artifacts, "details": outcome.details, "data_hash": outcome.data_hash,
            "task_hash": sha256_text(f"{job.version}\n{task.code_hash_source()}")}
