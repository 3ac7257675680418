"""The fine-tuning configuration, validated as a whole before anything is loaded or written.

Habit 4 of the design notes: a validator collects every problem and raises once.
The typed task options below (bounds checked by the runner when it binds them) catch
a single bad value; `config_problems` checks what needs the whole configuration and
the data size (exactly one of target epsilon or noise multiplier, delta < 1/N, a
sample rate batch_size/N in (0, 1], ...); `validate_module` asks Opacus' own
`ModuleValidator` which layers it cannot train privately and quotes its reasons.
All end in one `UserError` line, so the CLI exits 2 with nothing half-written.
Messages name the option (`target_epsilon`); the `evalsuite finetune` flag is the
same name with dashes (`--target-epsilon`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

from evalsuite.options import Option

ACCOUNTANTS = ("prv", "rdp")
GRAD_SAMPLE_MODES = ("auto", "hooks", "ghost", "functorch")
DEFAULT_SEED = 1234  # the run's default seed (RunConfig.seed): one default everywhere

# Typed task options shared by dp_finetune, dp_finetune_audit and privacy_utility (see evalsuite.options).
Data = Annotated[str | None, Option("JSONL/JSON/CSV/Parquet file of training texts (instead of task)")]
SourceTask = Annotated[str, Option("a registered task whose documents are the training texts")]
TextField = Annotated[str, Option("the text column of the training data")]
LabelField = Annotated[str | None, Option("the label column (sequence classifiers)")]
Private = Annotated[bool, Option("train with differential privacy (DP-SGD); false trains without noise")]
TargetEpsilon = Annotated[float | None, Option("epsilon to reach at the end of training (with delta)",
                                              min=0, min_exclusive=True)]
NoiseMultiplier = Annotated[float | None, Option("noise multiplier sigma (instead of target_epsilon)",
                                                 min=0, min_exclusive=True)]
Delta = Annotated[float | None, Option("delta of the (epsilon, delta) guarantee, below 1/N", min=0, max=1,
                                       min_exclusive=True, max_exclusive=True)]
MaxGradNorm = Annotated[float, Option("per-example clipping norm C", min=0, min_exclusive=True)]
Accountant = Annotated[Literal["prv", "rdp"], Option("privacy accountant")]
Epochs = Annotated[int, Option("passes over the training data", min=1)]
BatchSize = Annotated[int, Option("expected logical batch (Poisson sampling: sample rate batch_size/N)", min=1)]
PhysicalBatch = Annotated[int, Option("largest forward/backward batch", min=1)]
LearningRate = Annotated[float, Option("AdamW learning rate", min=0, min_exclusive=True)]
SeqLen = Annotated[int, Option("tokens per example (longer ones are cut)", min=2)]
Lora = Annotated[bool, Option("train LoRA adapters (merged into the saved weights)")]
LoraRank = Annotated[int, Option("LoRA rank", min=1)]
LastLayers = Annotated[int | None, Option("train only the last K transformer blocks", min=1)]
GradSampleMode = Annotated[Literal["auto", "hooks", "ghost", "functorch"],
                           Option("per-example gradients: auto picks ghost unless parameters are tied")]
Holdout = Annotated[float, Option("fraction of the data held out as non-members for the privacy audit", min=0,
                                  max=1, max_exclusive=True)]
Canaries = Annotated[int, Option("secret canaries planted in the training data", min=0)]
CanaryRepeats = Annotated[int, Option("copies of each canary", min=1)]


@dataclass
class DPConfig:
    """How to fine-tune: privacy parameters, batches, which weights train."""

    dp: bool = True
    target_epsilon: float | None = None
    delta: float | None = None
    noise_multiplier: float | None = None
    max_grad_norm: float = 1.0
    accountant: str = "prv"
    epochs: int = 1
    batch_size: int = 16  # expected logical batch (Poisson sampling: sample_rate = batch_size / N)
    max_physical_batch_size: int = 8  # what BatchMemoryManager lets through one forward/backward
    lr: float = 1e-3
    seq_len: int = 128
    lora: bool = False
    lora_rank: int = 8
    train_last_layers: int | None = None  # train only the last K transformer blocks (+ final norm and head)
    grad_sample_mode: str = "auto"
    seed: int = DEFAULT_SEED

    def to_json(self) -> dict:
        return asdict(self)


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def config_problems(cfg: DPConfig, n_examples: int) -> list[str]:
    """Every problem with `cfg` for a training set of `n_examples` (empty when valid)."""
    problems = []
    if n_examples < 2:
        problems.append(f"the training data has {n_examples} example(s); give at least 2")
    bound = 1 / max(n_examples, 1)
    if cfg.dp:
        if (cfg.target_epsilon is None) == (cfg.noise_multiplier is None):
            problems.append("give exactly one of target_epsilon (with delta) or noise_multiplier")
        if cfg.target_epsilon is not None and not _finite_positive(cfg.target_epsilon):
            problems.append(f"target_epsilon must be > 0 and finite, got {cfg.target_epsilon}")
        if cfg.noise_multiplier is not None and not _finite_positive(cfg.noise_multiplier):
            problems.append(f"noise_multiplier must be > 0 and finite (0 is no privacy), got {cfg.noise_multiplier}")
        if cfg.delta is None:
            problems.append(f"delta is required for private training; pick one below 1/N = {bound:.3g}")
        elif not (isinstance(cfg.delta, (int, float)) and 0 < cfg.delta < 1):
            problems.append(f"delta must be in (0, 1), got {cfg.delta}")
        elif not cfg.delta < bound:
            # delta >= 1/N allows a mechanism that publishes one whole record and still "satisfies" DP.
            problems.append(f"delta must be in (0, 1/N) = (0, {bound:.3g}) for N={n_examples} examples, "
                            f"got {cfg.delta:g}")
        if not _finite_positive(cfg.max_grad_norm):
            problems.append(f"max_grad_norm must be > 0, got {cfg.max_grad_norm}")
        if cfg.accountant not in ACCOUNTANTS:
            problems.append(f"accountant must be one of {', '.join(ACCOUNTANTS)}, got '{cfg.accountant}'")
    else:
        given = [name for name, v in (("target_epsilon", cfg.target_epsilon), ("delta", cfg.delta),
                                      ("noise_multiplier", cfg.noise_multiplier)) if v is not None]
        if given:
            problems.append(f"{', '.join(given)} only apply to private training; add --dp (dp=true) or drop them")
    if cfg.grad_sample_mode not in GRAD_SAMPLE_MODES:
        problems.append(f"grad_sample_mode must be one of {', '.join(GRAD_SAMPLE_MODES)}, "
                        f"got '{cfg.grad_sample_mode}'")
    if cfg.epochs < 1:
        problems.append(f"epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch_size < 1 or (n_examples >= 2 and cfg.batch_size > n_examples):
        problems.append(f"batch_size must be in [1, N={n_examples}] (sample rate batch_size/N in (0, 1]), "
                        f"got {cfg.batch_size}")
    if cfg.max_physical_batch_size < 1:
        problems.append(f"max_physical_batch_size must be >= 1, got {cfg.max_physical_batch_size}")
    if not _finite_positive(cfg.lr):
        problems.append(f"lr must be > 0, got {cfg.lr}")
    if cfg.seq_len < 2:
        problems.append(f"seq_len must be >= 2, got {cfg.seq_len}")
    if cfg.lora and cfg.train_last_layers is not None:
        problems.append("choose one of lora (LoRA adapters) and train_last_layers")
    if cfg.train_last_layers is not None and cfg.train_last_layers < 1:
        problems.append(f"train_last_layers must be >= 1, got {cfg.train_last_layers}")
    if cfg.lora and cfg.lora_rank < 1:
        problems.append(f"lora_rank must be >= 1, got {cfg.lora_rank}")
    return problems


def validate_config(cfg: DPConfig, n_examples: int) -> None:
    from evalsuite.errors import UserError

    problems = config_problems(cfg, n_examples)
    if problems:
        raise UserError("invalid fine-tuning config: " + "; ".join(problems))


def module_problems(module) -> list[str]:
    """Opacus' reasons why `module`'s trainable layers cannot be trained with DP-SGD."""
    from opacus.validators import ModuleValidator

    was_training = module.training
    module.train()  # judged as it will train (Opacus also refuses a module left in eval mode)
    try:
        return [str(err).strip().replace("\n", " ") for err in ModuleValidator.validate(module, strict=False)]
    finally:
        module.train(was_training)


def validate_module(module) -> None:
    from evalsuite.errors import UserError

    problems = module_problems(module)
    if problems:
        raise UserError("Opacus cannot train this model privately: " + "; ".join(problems)
                        + " (replace those layers, e.g. BatchNorm with GroupNorm: opacus ModuleValidator.fix)")
