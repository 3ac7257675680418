"""DP fine-tuning as tasks of `evalsuite run`: `dp_finetune` and `dp_finetune_audit`.

    evalsuite run --model demo --tasks dp_finetune_audit --task-args target_epsilon=4,delta=1e-5
    evalsuite run --model demo --tasks dp_finetune --task-args data=texts.jsonl,target_epsilon=8,delta=1e-4,out=ckpt

The run's model (the adapter the runner built: its module, tokenizer, device and dtype)
is fine-tuned with DP-SGD (Opacus), on a copy of its weights, with the run's seed, on a
task's documents or a file; the checkpoint is saved (staged, renamed into place when
complete) to `out`, or inside the record's folder. `dp_finetune` records the privacy
claim and the training loss (`evalsuite finetune` runs it); with `audit=true`, and
always in `dp_finetune_audit`, the checkpoint is built once through the model factory
and attacked at once (membership inference with the run's model as the reference,
canary exposure, empirical epsilon bound), and the record carries both.

Every option is typed and bounded (`evalsuite describe dp_finetune`); what needs the
data size (delta < 1/N, a sample rate batch_size/N in (0, 1]) and whether the checkpoint
folder can be written are checked when the task is built, before the model loads, so no
fine-tune starts that cannot finish.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

from evalsuite.errors import UserError
from evalsuite.options import Option
from evalsuite.privacy.config import (Accountant, BatchSize, CanaryRepeats, Canaries, Data, Delta, Epochs,
                                      GradSampleMode, Holdout, LabelField, LastLayers, LearningRate, Lora, LoraRank,
                                      MaxGradNorm, NoiseMultiplier, PhysicalBatch, Private, SeqLen, SourceTask,
                                      TargetEpsilon, TextField)
from evalsuite.jobs import Job
from evalsuite.privacy.job import BASE, NO_REFERENCE, CanaryCandidates, Reference, reference_problem
from evalsuite.registry import task

Out = Annotated[str | None, Option("new folder for the checkpoint (default: inside the record's folder)")]
Audit = Annotated[bool, Option("also attack the checkpoint (membership inference, canaries); needs holdout > 0")]
AuditCanaries = Annotated[int, Option("one-run audit canaries, each trained on (once) by its own fair coin", min=0)]
DEMO_TASK, DEFAULT_EPSILON = "demo_heldout_ppl", 4.0


@dataclass
class TrainingPlan:
    """A checked fine-tuning request: configuration, data source, audit split, canaries, checkpoint folder."""

    cfg: object  # DPConfig (seed replaced by the run's)
    source: dict
    holdout: float
    canaries: int
    canary_repeats: int
    out: Path | None
    audit: bool
    reference_model: str
    n_canary_candidates: int
    audit_canaries: int = 0
    audit_delta: float | None = None  # the delta a non-private run's bound is stated at


def training_plan(options: dict, *, audit: bool) -> TrainingPlan:
    """Check every option that needs more than its own bounds; one UserError listing every problem."""
    from evalsuite.privacy.checkpoint import output_problem
    from evalsuite.privacy.config import DPConfig, config_problems
    from evalsuite.privacy.data import prepare_data

    o = options
    cfg = DPConfig(dp=o["dp"], target_epsilon=o["target_epsilon"], noise_multiplier=o["noise_multiplier"],
                   delta=o["delta"], max_grad_norm=o["max_grad_norm"], accountant=o["accountant"], epochs=o["epochs"],
                   batch_size=o["batch_size"], max_physical_batch_size=o["max_physical_batch_size"], lr=o["lr"],
                   seq_len=o["seq_len"], lora=o["lora"], lora_rank=o["lora_rank"],
                   train_last_layers=o["train_last_layers"], grad_sample_mode=o["grad_sample_mode"])
    base = {"text_field": o["text_field"], "label_field": o["label_field"]}
    source = {"kind": "file", "path": o["data"], **base} if o["data"] else {"kind": "task", "name": o["task"], **base}
    problems = []
    try:
        data = prepare_data(source, holdout_fraction=o["holdout"], n_canaries=o["canaries"],
                            canary_repeats=o["canary_repeats"], seed=cfg.seed,
                            n_audit_canaries=o.get("audit_canaries") or 0)
    except UserError as exc:
        problems.append(str(exc))
    else:
        problems += config_problems(cfg, len(data.train_texts))
        if audit and not data.nonmember_indices:
            problems.append("the privacy audit needs held-out non-members: holdout must be > 0, e.g. 0.5")
    out = Path(o["out"]) if o.get("out") else None
    if out is not None:
        problems.append(output_problem(out, "out"))
    reference = o.get("reference_model", BASE)
    if audit and reference not in (BASE, NO_REFERENCE):
        problems.append(reference_problem(reference, "reference_model"))
    problems = [p for p in problems if p]
    if problems:
        raise UserError("; ".join(problems))
    return TrainingPlan(cfg, source, o["holdout"], o["canaries"], o["canary_repeats"], out, audit, reference,
                        o.get("n_canary_candidates", 1000), o.get("audit_canaries") or 0, o.get("audit_delta"))


def finetune_job(plan: TrainingPlan, *, name: str) -> Job:
    from evalsuite.privacy.finetune import adapter_problems

    def check(model) -> None:
        problems = adapter_problems(model, has_labels=bool(plan.source.get("label_field")), dp=plan.cfg.dp,
                                    whole_module=not plan.cfg.lora and plan.cfg.train_last_layers is None,
                                    audit=plan.audit)
        if problems:
            raise UserError("; ".join(problems))

    return Job(run=lambda model, ctx: run_finetune(plan, model, ctx), category="privacy",
                      requires=("module", "tokenizer"), name=name, check=check,
                      description="DP fine-tuning (Opacus)" + (" and its empirical privacy audit" if plan.audit else ""))


def run_finetune(plan: TrainingPlan, model, ctx):
    from evalsuite.privacy.config import validate_config
    from evalsuite.privacy.data import prepare_data
    from evalsuite.privacy.finetune import finetune_adapter, model_spec_of

    cfg = replace(plan.cfg, seed=ctx.seed)
    data = prepare_data(plan.source, holdout_fraction=plan.holdout, n_canaries=plan.canaries,
                        canary_repeats=plan.canary_repeats, seed=ctx.seed, limit=ctx.limit,
                        n_audit_canaries=plan.audit_canaries)
    validate_config(cfg, len(data.train_texts))  # --limit may have shrunk N since the task was built
    if plan.audit and len(data.nonmember_indices) < 2:
        raise UserError("the privacy audit needs at least 2 held-out non-members; raise holdout or --limit")
    echo = ctx.echo if ctx.progress else (lambda message: None)
    out = plan.out or Path(ctx.artifacts_dir) / "checkpoint"
    path, result = finetune_adapter(model, data, cfg, out, base_model=model_spec_of(model), echo=echo)
    outcome = finetune_outcome(path, result, cfg, data, Path(ctx.artifacts_dir))
    if not plan.audit:
        return outcome
    return _with_audit(outcome, plan, model, path, result, data, ctx)


def finetune_outcome(path: Path, result, cfg, data, artifacts_dir: Path):
    """The fine-tune record: final training loss and the accountant's epsilon and delta."""
    from evalsuite.jobs import JobOutcome
    from evalsuite.records import metric_entry
    from evalsuite.task_types import LOWER

    privacy = result.privacy
    metrics = {"train_loss": metric_entry(float(result.epoch_losses[-1]), LOWER.to_json(), None, "final epoch mean",
                                          privacy.get("n_train_examples", 0))}
    if privacy.get("dp"):
        method = f"accountant:{privacy['accountant']}"
        metrics["epsilon"] = metric_entry(float(privacy["epsilon"]), LOWER.to_json(), None, method, 1)
        metrics["delta"] = metric_entry(float(privacy["delta"]), LOWER.to_json(), None, method, 1)
    try:  # inside the record's folder: relative, so the results folder can move
        shown = str(Path(path).resolve().relative_to(artifacts_dir.resolve()))
    except ValueError:
        shown = str(Path(path).resolve())
    return JobOutcome(metrics=metrics, samples=[], data_hash=data.sha256(),
                      headline="epsilon" if "epsilon" in metrics else "train_loss",
                      details={"privacy": privacy, "checkpoint": shown, "epoch_losses": result.epoch_losses,
                               "training": {"config": cfg.to_json(), "wall_time_s": result.wall_time_s}})


def _with_audit(outcome, plan: TrainingPlan, model, path: Path, result, data, ctx):
    from evalsuite.privacy.finetune import load_checkpoint
    from evalsuite.privacy.job import AuditData, build_reference, run_audit

    target = load_checkpoint(model, path)  # the one extra model load: the checkpoint, through the factory
    audit_data = AuditData(result.privacy, {}, [data.texts[i] for i in data.member_indices],
                           [data.texts[i] for i in data.nonmember_indices], data.canaries, data.sha256(),
                           data.audit_canaries, data.audit_included, plan.audit_delta)
    if plan.reference_model == BASE:
        reference, spec = model, getattr(model, "name", "base")  # the run's model is the base, left untouched
    elif plan.reference_model == NO_REFERENCE:
        reference, spec = None, None
    else:
        spec = plan.reference_model
        reference = build_reference(spec, model, "reference_model")
    audited = run_audit(target, ctx, audit_data, reference=reference, reference_spec=spec,
                        n_canary_candidates=plan.n_canary_candidates)
    audited.metrics = {**outcome.metrics, **audited.metrics}
    audited.details = {**audited.details, **outcome.details}
    return audited


# The options both tasks declare; each task's own defaults differ (dp_finetune_audit is sized for the demo suite).
@task("dp_finetune")
def dp_finetune(out: Out = None, data: Data = None, task: SourceTask = DEMO_TASK, text_field: TextField = "text",
                label_field: LabelField = None, dp: Private = True, target_epsilon: TargetEpsilon = None,
                noise_multiplier: NoiseMultiplier = None, delta: Delta = None, max_grad_norm: MaxGradNorm = 1.0,
                accountant: Accountant = "prv", epochs: Epochs = 1, batch_size: BatchSize = 16,
                max_physical_batch_size: PhysicalBatch = 8, lr: LearningRate = 1e-3, seq_len: SeqLen = 128,
                lora: Lora = False, lora_rank: LoraRank = 8, train_last_layers: LastLayers = None,
                grad_sample_mode: GradSampleMode = "auto", holdout: Holdout = 0.0, canaries: Canaries = 0,
                canary_repeats: CanaryRepeats = 1, audit: Audit = False, reference_model: Reference = BASE,
                n_canary_candidates: CanaryCandidates = 1000, audit_canaries: AuditCanaries = 0):
    """DP-SGD fine-tuning of the model (Opacus): a checkpoint and its privacy record (and its audit with audit=true)."""
    options = dict(locals())
    return finetune_job(training_plan(options, audit=audit), name="dp_finetune")


# What preset=... sets in dp_finetune_audit, for every option left unset. "power" is sized so that the audit of
# the demo model, fine-tuned without DP, certifies a clearly non-zero epsilon (docs/privacy.md has the figures).
PRESETS = {"default": {"epochs": 1, "seq_len": 128, "lr": 1e-3, "audit_canaries": 0},
           "power": {"epochs": 8, "seq_len": 48, "lr": 2e-3, "audit_canaries": 512}}
Preset = Annotated[Literal["default", "power"], Option(
    "audit size: 'power' plants 512 one-run audit canaries and trains 8 epochs on 48 tokens (options given win)")]


def _preset(what: str) -> str:
    values = [f"{k}: {v[what]:g}" for k, v in PRESETS.items()]
    return f"(unset: {', '.join(values)} by preset)"


@task("dp_finetune_audit")
def dp_finetune_audit(task: SourceTask = DEMO_TASK, data: Data = None, text_field: TextField = "text",
                      private: Private = True, preset: Preset = "default",
                      target_epsilon: Annotated[float | None, Option(
                          f"epsilon to reach (default {DEFAULT_EPSILON:g} unless noise_multiplier is given)", min=0,
                          min_exclusive=True)] = None,
                      noise_multiplier: NoiseMultiplier = None,
                      delta: Annotated[float, Option("delta of the guarantee (below 1/N), and of the audit's bound",
                                                     min=0, max=1, min_exclusive=True, max_exclusive=True)] = 1e-5,
                      max_grad_norm: MaxGradNorm = 1.0, accountant: Accountant = "prv",
                      epochs: Annotated[int | None, Option(f"passes over the data {_preset('epochs')}",
                                                           min=1)] = None,
                      batch_size: BatchSize = 16, max_physical_batch_size: PhysicalBatch = 8,
                      lr: Annotated[float | None, Option(f"AdamW learning rate {_preset('lr')}", min=0,
                                                         min_exclusive=True)] = None,
                      seq_len: Annotated[int | None, Option(f"tokens per example {_preset('seq_len')}",
                                                            min=2)] = None,
                      lora: Lora = False, lora_rank: LoraRank = 8, train_last_layers: LastLayers = None,
                      grad_sample_mode: GradSampleMode = "auto", holdout: Holdout = 0.5, canaries: Canaries = 4,
                      canary_repeats: CanaryRepeats = 1,
                      audit_canaries: Annotated[int | None, Option(
                          f"one-run audit canaries, each trained on (once) by a fair coin {_preset('audit_canaries')}",
                          min=0)] = None,
                      out: Out = None, reference_model: Reference = BASE,
                      n_canary_candidates: CanaryCandidates = 1000):
    """Fine-tuning of the model with DP-SGD (Opacus; private=false: the same training without DP, the baseline),
    then membership inference, canary exposure and a one-run audit on the result, with the audit's power."""
    options = dict(locals(), dp=private, label_field=None)
    for key, value in PRESETS[preset].items():
        if options[key] is None:
            options[key] = value
    if private:
        if target_epsilon is None and noise_multiplier is None:
            options["target_epsilon"] = DEFAULT_EPSILON
    else:
        given = [k for k in ("target_epsilon", "noise_multiplier") if options[k] is not None]
        if given:
            verb, it = ("apply", "them") if len(given) > 1 else ("applies", "it")
            raise UserError(f"{' and '.join(given)} {verb} only to private training; drop {it}, or set private=true")
        # Without DP there is no guarantee: delta is only the delta the audit's bound is stated at.
        options.update(delta=None, audit_delta=delta)
    return finetune_job(training_plan(options, audit=True), name="dp_finetune_audit")
