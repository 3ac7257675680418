"""`run()`: the one place work happens. The CLI, every command preset and Python users call it.

Stages (docs/architecture.md has the picture):
1. plan: check the config, resolve task names, bind each task's typed options, resolve the
   model spec, build the tasks (their data is read here) — every problem is collected and
   raised once, before a model is loaded or anything is written;
2. build the model once through the model factory;
3. per task: ask the model through the cached engine (or run the job), reduce metrics with
   confidence intervals, write one record atomically and index it in the results store.
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from evalsuite.config import RunConfig
from evalsuite.errors import PluginError, UserError, suggest
from evalsuite.registry import REGISTRY

CACHE_FILE = "cache.sqlite"


@dataclass
class PlannedTask:
    """One task of a run: its name, where it comes from, its typed options and its built Task or Job."""

    name: str
    source: str  # "native" or "lm-eval"
    entry: object = None  # registry entry of a native task (None for a ready-built spec)
    spec: object = None  # the built Task or Job
    options: dict = field(default_factory=dict)
    folder: str = ""  # record folder inside the run folder, unique within the run

    def declared(self) -> dict:
        from evalsuite.options import declared_options

        return declared_options(self.entry.obj) if self.entry is not None else {}

    def code_hash_source(self) -> str:
        """The source a task hash covers: the module that defines the task."""
        target = self.entry.obj if self.entry is not None else getattr(self.spec, "run", None) or self.spec.score
        try:
            return inspect.getsource(inspect.getmodule(target))
        except (OSError, TypeError):
            return repr(target)


@dataclass
class Plan:
    config: RunConfig
    tasks: list[PlannedTask]
    model_spec: object  # evalsuite.models.factory.ModelSpec, or None when the caller gives an adapter
    lmeval: object = None
    perturbations: list = field(default_factory=list)  # evalsuite.perturb.Arm, from config.perturb


def run(config: RunConfig, *, model=None, specs: Mapping[str, object] | None = None, echo=None) -> dict:
    """Evaluate `config.model` on `config.tasks`; returns the run summary.

    run.json holds the same summary with paths relative to the results folder (so the folder can
    move); the returned one has them resolved, ready to open.

    From Python, `model` may be a ready adapter (then `config.model` is its label) and `specs`
    may map names in `config.tasks` to ready-built Task or Job objects.
    """
    from evalsuite.progress import log, output

    with output(quiet=not config.progress):
        plan = plan_run(config, model_given=model is not None, specs=specs or {})
        if model is None:
            from evalsuite.models.factory import build_model

            model = build_model(plan.model_spec)
        return _execute(plan, model, echo or log)


# -- planning: everything checked before any work -------------------------------------------------


def plan_run(config: RunConfig, *, model_given: bool = False, specs: Mapping[str, object] = ()) -> Plan:
    problems = list(config.problems())
    tasks, lmeval = _resolve_tasks(config, specs, problems)
    _bind_options(tasks, config.task_args, problems)
    arms = []
    if config.perturb:
        from evalsuite.perturb import resolve

        arms = resolve(config.perturb, problems)
    model_spec = None
    if not model_given:
        from evalsuite.models.factory import resolve_model_spec

        try:
            model_spec = resolve_model_spec(config.model, config.model_args, config.model_flags(),
                                            internal={"progress": config.progress}, variant=config.variant)
        except UserError as exc:
            problems.append(str(exc))
    if not problems:
        for task in tasks:  # a task's bad data fails here, before the model loads
            if task.source == "native" and task.spec is None:
                try:
                    task.spec = task.entry.obj(**task.options)
                except UserError as exc:
                    problems.append(f"task '{task.name}': {exc}")
        for task in tasks:
            problem = _document_problem(task, config.limit)
            if problem:
                problems.append(problem)
    if problems:
        raise UserError("; ".join(dict.fromkeys(problems)))
    _assign_folders(tasks)
    return Plan(config, tasks, model_spec, lmeval, arms)


def _document_problem(task: PlannedTask, limit: int | None) -> str | None:
    """The first document a benchmark task cannot turn into requests (a missing field, a bad answer index)."""
    from evalsuite.jobs import Job

    if task.spec is None or isinstance(task.spec, Job):
        return None
    docs = list(task.spec.docs)[:limit] if limit else list(task.spec.docs)
    if not docs:
        return f"task '{task.name}' has no samples; check its data file"
    for i, doc in enumerate(docs, 1):
        try:
            task.spec.requests(doc)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            what = f"has no field {exc}" if isinstance(exc, KeyError) else f"cannot be read ({type(exc).__name__}: {exc})"
            return f"task '{task.name}': document {i} (counting from 1) {what}; fix the task's data or its field names"
    return None


def _resolve_tasks(config: RunConfig, specs: Mapping[str, object], problems: list[str]):
    lmeval = None
    for folder in config.tasks_path:
        try:
            REGISTRY.load_path(folder, names=[n for n in config.tasks if n not in specs])
        except UserError as exc:
            problems.append(str(exc))
    tasks = []
    for name in config.tasks:
        if name in specs:
            tasks.append(PlannedTask(name, "native", spec=specs[name]))
            continue
        entry = None if name.startswith("lm_eval/") else REGISTRY.find("task", name)
        if entry is not None:
            tasks.append(PlannedTask(entry.name, "native", entry))
            continue
        bare = name.removeprefix("lm_eval/")
        if lmeval is None:
            from evalsuite.lmeval.tasks import LMEvalTasks

            lmeval = LMEvalTasks(list(config.tasks_path))
        try:
            known_to_lmeval = lmeval.has(bare)
        except UserError as exc:
            problems.append(str(exc))
            continue
        if known_to_lmeval:
            tasks.append(PlannedTask(bare, "lm-eval"))
            continue
        known = [e.name for e in REGISTRY.entries("task")] + lmeval.names()
        problems.append(f"unknown task '{name}'.{suggest(bare, known)} (see: evalsuite list tasks)")
    return tasks, lmeval


def _matches(task: PlannedTask, scope: str) -> bool:
    return scope in (task.name, task.name.split("/", 1)[-1], f"lm_eval/{task.name}")


def _bind_options(tasks: list[PlannedTask], task_args: Mapping[str, object], problems: list[str]) -> None:
    """Route `key` to every task that declares it and `task:key` to one task; type and check each value."""
    from evalsuite.options import bind

    declared = {id(t): t.declared() for t in tasks}
    given = {id(t): {} for t in tasks}
    # Bare keys first, scoped ones after: `task:key` overrides `key` for its task whatever the order given.
    for key, value in sorted(task_args.items(), key=lambda kv: ":" in str(kv[0])):
        scope, colon, bare = str(key).rpartition(":")
        if colon:
            targets = [t for t in tasks if _matches(t, scope)]
            if not targets:
                problems.append(f"--task-args {key}: '{scope}' is not a selected task "
                                f"(selected: {', '.join(t.name for t in tasks) or 'none'})")
        else:
            targets = [t for t in tasks if bare in declared[id(t)]]
            if not targets:
                names = sorted({n for d in declared.values() for n, s in d.items() if not s.meta.internal})
                where = f" Declared: {', '.join(names)}." if names else " The selected tasks take no options."
                problems.append(f"--task-args {bare}: no selected task declares it.{suggest(bare, names)}{where} "
                                "(see: evalsuite describe TASK)")
        for t in targets:
            given[id(t)][bare] = value
    for t in tasks:
        if t.entry is None and t.source == "native":  # a ready-built spec from Python: options reach it as given
            t.options = dict(given[id(t)])
            continue
        values, more = bind(declared[id(t)], given[id(t)], f"task '{t.name}'", "--task-args")
        problems.extend(more)
        t.options = values


def _assign_folders(tasks: list[PlannedTask]) -> None:
    """One record folder per task: two task names that slug alike get distinct folders."""
    from evalsuite.records import slug

    seen: set[str] = set()
    for t in tasks:
        folder = slug(t.name)
        if folder in seen:
            folder = f"{folder}-{hashlib.sha256(t.name.encode()).hexdigest()[:8]}"
        seen.add(folder)
        t.folder = folder


# -- execution --------------------------------------------------------------------------------------


def _execute(plan: Plan, model, echo) -> dict:
    from evalsuite.cache import RequestCache
    from evalsuite.energy import energy_block, meter_for
    from evalsuite.fingerprint import hardware, package_versions
    from evalsuite.jobs import CATEGORIES, Job
    from evalsuite.outcome_extras import finish_outcome
    from evalsuite.records import RUN_SCHEMA_VERSION, atomic_write_json, slug, write_record
    from evalsuite.store import STORE_FILE, ResultsStore, portable_path, reap_interrupted, writer_fields

    config, tasks = plan.config, plan.tasks
    for task in tasks:  # a job that cannot use this model is refused before anything is written
        if isinstance(task.spec, Job):
            if task.spec.category not in CATEGORIES:
                raise UserError(f"task '{task.name}' has category '{task.spec.category}'; "
                                f"use one of {', '.join(CATEGORIES)}")
            task.spec.check_model(model, task.name)
    out = config.output_path
    for reaped in reap_interrupted(out):  # runs killed earlier: marked interrupted, empty ones removed
        echo(f"[evalsuite] run {reaped['run_id']} was {reaped['action']} ({reaped['reason']})")
    started = datetime.now(timezone.utc)
    run_id = f"{started:%Y%m%dT%H%M%S}-{slug(model.name)[:40]}-{secrets.token_hex(3)}"
    run_dir = out / "runs" / run_id
    summary = {"schema_version": RUN_SCHEMA_VERSION, "run_id": run_id, "model": model.name,
               "fingerprint": model.fingerprint(), "status": "running", "started_at": started.isoformat(),
               "finished_at": None, "path": portable_path(run_dir, out), **writer_fields(),
               "config": config.to_json(),
               "model_spec": plan.model_spec.to_json() if plan.model_spec is not None else None,
               "tasks": [t.name for t in tasks], "records": {}}
    store = ResultsStore(out / STORE_FILE)
    try:
        cache = RequestCache(out / CACHE_FILE) if config.use_cache else None
    except BaseException:
        store.close()
        raise
    try:
        atomic_write_json(run_dir / "run.json", summary)
        store.upsert_run(summary)
        env = {"packages": package_versions(), "hardware": hardware(), "seed": config.seed}
        meter = meter_for(str(getattr(model, "device", "") or "cpu"))  # once per run: idle power measured once
        for task in tasks:
            t0, tokens0 = time.perf_counter(), getattr(model, "tokens_processed", 0)
            meter.begin()
            if config.progress:
                echo(f"[evalsuite] {task.name} ...")
            if task.source == "native":
                outcome = _evaluate_native(task, model, cache, config, run_dir / task.folder, echo)
            else:
                from evalsuite.lmeval.tasks import run_lmeval_task

                outcome = run_lmeval_task(task.name, model, cache, plan.lmeval, limit=config.limit, seed=config.seed,
                                          n_resamples=config.bootstrap_resamples)
            reading = meter.end()
            tokens = getattr(model, "tokens_processed", 0) - tokens0
            manifest = {"model_fingerprint": model.fingerprint(), "task_hash": outcome["task_hash"],
                        "data_hash": outcome["data_hash"], **env, "limit": config.limit,
                        "task_options": task.options,
                        "wall_time_s": round(time.perf_counter() - t0, 3), "tokens_processed": tokens,
                        "energy": energy_block(reading, n_samples=len(outcome["samples"]) or None,
                                               tokens=tokens or None)}
            # calibration of multiple choice; robustness under --perturb
            finish_outcome(outcome, task, plan, model, cache, run_dir / task.folder, manifest, echo)
            record = {"run_id": run_id, "model": model.name, "task": task.name, "task_source": task.source,
                      "category": outcome.get("category", "capability"), "metrics": outcome["metrics"],
                      "artifacts": outcome.get("artifacts", {}), "details": outcome.get("details", {}),
                      "manifest": manifest, **({"headline": outcome["headline"]} if outcome.get("headline") else {})}
            try:
                path = write_record(run_dir, task.folder, record, outcome["samples"])
            except ValueError as exc:
                raise PluginError(f"task '{task.name}' produced an invalid record ({exc}); this is a bug in "
                                  "the task's plugin") from exc
            store.add_record(run_id, task.name, path, outcome["metrics"])
            summary["records"][task.name] = portable_path(path, out)
            atomic_write_json(run_dir / "run.json", summary)
        summary["status"] = "complete"
    except BaseException as exc:
        # Finished records stay (each is whole); a run with none leaves nothing behind.
        if not summary["records"]:
            shutil.rmtree(run_dir, ignore_errors=True)
            store.delete_run(run_id)
            raise
        summary["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "incomplete"
        raise
    finally:
        if summary["records"]:
            summary["finished_at"] = datetime.now(timezone.utc).isoformat()
            atomic_write_json(run_dir / "run.json", summary)
            store.upsert_run(summary)
        store.close()
        if cache is not None:
            cache.close()
    return {**summary, "path": str(run_dir), "records": {t: str(out / p) for t, p in summary["records"].items()}}
    return summary


def _evaluate_native(task: PlannedTask, model, cache, config: RunConfig, folder: Path, echo) -> dict:
    import numpy as np

    from evalsuite.answering import answer
    from evalsuite.fingerprint import sha256_json, sha256_text
    from evalsuite.jobs import Job
    from evalsuite.records import metric_entry
    from evalsuite.requests import result_to_json
    from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci

    spec = task.spec
    if isinstance(spec, Job):
        return _evaluate_job(task, spec, model, cache, config, folder, echo)
    docs = list(spec.docs)[: config.limit] if config.limit else list(spec.docs)
    if not docs:
        raise UserError(f"task '{task.name}' has no samples; check its data file")
    per_doc = [spec.requests(doc) for doc in docs]
    flat = [r for reqs in per_doc for r in reqs]
    results = answer(model, flat, cache)
    samples, scores, answered, at = [], [], [], 0
    for i, (doc, reqs) in enumerate(zip(docs, per_doc)):
        got = results[at: at + len(reqs)]
        at += len(reqs)
        answered.append(got)
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
    choices = {"": [(i, *spec.choice_scores(doc, got)) for i, (doc, got) in enumerate(zip(docs, answered))]} \
        if spec.choice_scores is not None else {}
    return {"metrics": metrics, "samples": samples, "category": spec.category, "headline": spec.metrics[0].name,
            "task_hash": sha256_text(f"{spec.version}\n{task.code_hash_source()}"), "data_hash": sha256_json(docs),
            "choice_scores": choices, "state": (docs, per_doc, answered)}


def _evaluate_job(task: PlannedTask, job, model, cache, config: RunConfig, folder: Path, echo) -> dict:
    from evalsuite.fingerprint import sha256_text
    from evalsuite.jobs import JobContext

    folder.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(artifacts_dir=folder, seed=config.seed, limit=config.limit,
                     bootstrap_resamples=config.bootstrap_resamples, cache=cache, progress=config.progress,
                     echo=echo, options=dict(task.options))
    outcome = job.run(model, ctx)
    missing = [f for f in outcome.artifacts.values() if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"task '{task.name}' listed artifacts it did not write: {missing}")
    return {"metrics": outcome.metrics, "samples": outcome.samples, "category": job.category,
            "artifacts": outcome.artifacts, "details": outcome.details, "data_hash": outcome.data_hash,
            "headline": outcome.headline,
            "task_hash": sha256_text(f"{job.version}\n{task.code_hash_source()}")}
