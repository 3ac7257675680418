"""Utility against privacy: the `privacy_utility` task (`evalsuite privacy-curve` runs it).

The run's model is fine-tuned (a copy of its weights each time, the run's seed) at every
target epsilon and once without DP; each checkpoint is saved under `out` and evaluated
by `evalsuite.run()` on the same tasks, into a results folder inside this record's
folder (`evaluations/`), so each checkpoint has its own records. The `privacy_utility`
record, for the base model, collects the points in details["privacy_utility"] with a
plot. The epsilons (finite, > 0), every configuration, the tasks and the checkpoint
folder are checked when the task is built, before the first model trains.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from evalsuite.errors import UserError
from evalsuite.options import Option
from evalsuite.privacy.config import (Accountant, BatchSize, Data, Epochs, GradSampleMode, LabelField, LastLayers,
                                      LearningRate, Lora, LoraRank, MaxGradNorm, PhysicalBatch, SeqLen, SourceTask,
                                      TextField)
from evalsuite.registry import task

EVALUATIONS = "evaluations"


def _label(epsilon: float | None) -> str:
    return "no_dp" if epsilon is None else f"eps_{epsilon:g}"


def parse_epsilons(items) -> tuple[list[float], list[str]]:
    """(epsilons, problems): each must be a finite number > 0."""
    values, problems = [], []
    for item in items or []:
        try:
            value = float(item)
        except (TypeError, ValueError):
            problems.append(f"epsilons: '{item}' is not a number")
            continue
        if not (math.isfinite(value) and value > 0):
            problems.append(f"epsilons: each epsilon must be finite and > 0, got {item}")
            continue
        values.append(value)
    if not items:
        problems.append("epsilons is empty; give e.g. 1|4|16 (--epsilons 1,4,16)")
    if len(set(values)) < len(values):
        problems.append("epsilons lists an epsilon twice; give each once")
    return values, problems


def _task_problems(tasks: list[str], tasks_path: list[str]) -> list[str]:
    from evalsuite.errors import suggest
    from evalsuite.registry import REGISTRY

    problems = []
    if not tasks:
        return ["tasks is empty; name the tasks to evaluate every checkpoint on"]
    for folder in tasks_path:
        try:
            REGISTRY.load_path(folder, names=tasks)
        except UserError as exc:
            problems.append(str(exc))
    unknown = [t for t in tasks if not t.startswith("lm_eval/") and REGISTRY.find("task", t) is None]
    if unknown:
        from evalsuite.lmeval.tasks import LMEvalTasks

        lmeval = LMEvalTasks(list(tasks_path))
        for name in unknown:
            if not lmeval.has(name):
                known = [e.name for e in REGISTRY.entries("task")]
                problems.append(f"tasks: unknown task '{name}'.{suggest(name, known)}")
    return problems


@task("privacy_utility")
def privacy_utility(
        epsilons: Annotated[list[str], Option("target epsilons, each finite and > 0 (items separated by '|')")],
        delta: Annotated[float, Option("delta of every private run, below 1/N", min=0, max=1, min_exclusive=True,
                                       max_exclusive=True)],
        tasks: Annotated[list[str], Option("tasks every checkpoint is evaluated on (items separated by '|')")],
        out: Annotated[str, Option("new folder for the checkpoints (one subfolder per epsilon, and no_dp)")],
        tasks_path: Annotated[list[str] | None, Option("folders of task files for tasks")] = None,
        data: Data = None, task: SourceTask = "demo_heldout_ppl", text_field: TextField = "text",
        label_field: LabelField = None, max_grad_norm: MaxGradNorm = 1.0, accountant: Accountant = "prv",
        epochs: Epochs = 1, batch_size: BatchSize = 16, max_physical_batch_size: PhysicalBatch = 8,
        lr: LearningRate = 1e-3, seq_len: SeqLen = 128, lora: Lora = False, lora_rank: LoraRank = 8,
        train_last_layers: LastLayers = None, grad_sample_mode: GradSampleMode = "auto"):
    """Fine-tune at several epsilons and without DP; evaluate each checkpoint the same way; record the curve."""
    from evalsuite.privacy.checkpoint import output_problem
    from evalsuite.privacy.config import DPConfig, config_problems
    from evalsuite.privacy.data import prepare_data

    values, problems = parse_epsilons(epsilons)
    base = {"text_field": text_field, "label_field": label_field}
    source = {"kind": "file", "path": data, **base} if data else {"kind": "task", "name": task, **base}
    cfg = DPConfig(dp=True, delta=delta, max_grad_norm=max_grad_norm, accountant=accountant, epochs=epochs,
                   batch_size=batch_size, max_physical_batch_size=max_physical_batch_size, lr=lr, seq_len=seq_len,
                   lora=lora, lora_rank=lora_rank, train_last_layers=train_last_layers,
                   grad_sample_mode=grad_sample_mode)
    configs = [(e, replace(cfg, target_epsilon=e)) for e in values]
    configs.append((None, replace(cfg, dp=False, delta=None)))
    try:
        n_train = len(prepare_data(source).train_texts)
    except UserError as exc:
        problems.append(str(exc))
    else:
        for _, c in configs:
            problems += [p for p in config_problems(c, n_train) if p not in problems]
    problems.append(output_problem(out, "out (--out)"))
    problems += _task_problems(list(tasks), list(tasks_path or []))
    problems = [p for p in problems if p]
    if problems:
        raise UserError("; ".join(problems))
    from evalsuite.jobs import Job

    def check(model) -> None:
        from evalsuite.privacy.finetune import adapter_problems

        found = adapter_problems(model, has_labels=bool(label_field), dp=True,
                                 whole_module=not lora and train_last_layers is None, audit=False)
        if found:
            raise UserError("; ".join(found))

    return Job(run=lambda model, ctx: run_curve(model, ctx, source, configs, list(tasks),
                                                       list(tasks_path or []), Path(out)),
                      category="privacy", requires=("module", "tokenizer"), check=check, name="privacy_utility",
                      description="utility against privacy")


def run_curve(model, ctx, source: dict, configs, tasks: list[str], tasks_path: list[str], out: Path):
    from evalsuite.config import RunConfig
    from evalsuite.fingerprint import sha256_json
    from evalsuite.jobs import JobOutcome
    from evalsuite.privacy.config import validate_config
    from evalsuite.privacy.data import prepare_data
    from evalsuite.privacy.finetune import checkpoint_spec, finetune_adapter, model_spec_of, run_model_options
    from evalsuite.privacy.plot import plot_utility_curve
    from evalsuite.records import metric_entry, read_record
    from evalsuite.runner import run

    echo = ctx.echo if ctx.progress else (lambda message: None)
    evaluations = Path(ctx.artifacts_dir) / EVALUATIONS
    flags = run_model_options(model)
    points = []
    for epsilon, cfg in configs:
        cfg = replace(cfg, seed=ctx.seed)
        data = prepare_data(source, seed=ctx.seed, limit=ctx.limit)
        validate_config(cfg, len(data.train_texts))
        echo(f"[privacy-curve] fine-tuning {_label(epsilon)}")
        path, result = finetune_adapter(model, data, cfg, out / _label(epsilon), base_model=model_spec_of(model),
                                        echo=echo)
        config = RunConfig(model=checkpoint_spec(model, path), tasks=tasks, tasks_path=tasks_path,
                           output_dir=str(evaluations), device=flags.get("device"), dtype=flags.get("dtype"),
                           seed=ctx.seed, bootstrap_resamples=ctx.bootstrap_resamples, use_cache=False,
                           progress=ctx.progress)
        summary = run(config, echo=ctx.echo)
        for record_path in summary["records"].values():
            record = read_record(evaluations / record_path)
            for name, m in record["metrics"].items():
                points.append({"epsilon": result.privacy.get("epsilon"), "target_epsilon": epsilon,
                               "task": record["task"], "metric": name, "value": m["value"], "ci": m["ci"],
                               "direction": m["direction"], "ideal": m["ideal"], "checkpoint": str(path),
                               "accountant": result.privacy.get("accountant"), "run_id": summary["run_id"]})
    plot_utility_curve(Path(ctx.artifacts_dir) / "utility_curve.png", points)
    metrics = {}
    for p in points:
        name = f"{p['task']}/{p['metric']}@{_label(p['target_epsilon'])}"
        metrics[name] = metric_entry(p["value"], {"direction": p["direction"], "ideal": p["ideal"]}, p["ci"],
                                     "from the checkpoint's record", 1)
    keep = ("epsilon", "task", "metric", "value", "ci", "target_epsilon", "accountant")
    return JobOutcome(metrics=metrics, samples=[dict(doc_id=i, scores={"value": p["value"]}, **p)
                                                for i, p in enumerate(points)],
                      data_hash=sha256_json(points), artifacts={"utility_plot": "utility_curve.png"},
                      details={"privacy_utility": [{k: p[k] for k in keep} for p in points],
                               "config": configs[0][1].to_json(), "evaluations": EVALUATIONS})


def utility_curve(model, source: dict, cfg, epsilons: list[float], tasks: list[str], out: str | Path, *,
                  tasks_path: list[str] = (), output_dir: str = "evalsuite-results", limit: int | None = None,
                  progress: bool = False, echo=None) -> dict:
    """From Python: a preset over `evalsuite.run()` with the `privacy_utility` task; returns the run summary."""
    from evalsuite.config import RunConfig
    from evalsuite.privacy.finetune import dp_task_args
    from evalsuite.runner import run

    args = {k: v for k, v in dp_task_args(cfg, source).items()
            if k not in ("dp", "target_epsilon", "noise_multiplier", "canaries", "canary_repeats")}
    args.update(epsilons=[str(e) for e in epsilons], tasks=list(tasks), tasks_path=list(tasks_path), out=str(out))
    config = RunConfig(model=model, tasks=["privacy_utility"], output_dir=str(output_dir), task_args=args, limit=limit,
                       seed=cfg.seed, use_cache=False, progress=progress)
    return run(config, echo=echo)
