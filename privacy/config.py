"""The fine-tuning configuration, validated as a whole before anything is loaded or written.

Habit 4 of the design notes: a validator collects every problem and raises once.
`validate_config` checks the numbers (epsilon > 0, 0 < delta < 1/N, exactly one of
target epsilon or noise multiplier, ...); `validate_module` asks Opacus' own
`ModuleValidator` which layers it cannot train privately and quotes its reasons.
Both end in one `UserError` line, so the CLI exits 2 with nothing half-written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ACCOUNTANTS = ("prv", "rdp")
GRAD_SAMPLE_MODES = ("auto", "hooks", "ghost", "functorch")


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
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def config_problems(cfg: DPConfig, n_examples: int) -> list[str]:
    """Every problem with `cfg` for a training set of `n_examples` (empty when valid)."""
    problems = []
    if n_examples < 2:
        problems.append(f"the training data has {n_examples} example(s); give at least 2")
    if cfg.dp:
        if (cfg.target_epsilon is None) == (cfg.noise_multiplier is None):
            problems.append("give exactly one of --target-epsilon (with --delta) or --noise-multiplier")
        if cfg.target_epsilon is not None and not cfg.target_epsilon > 0:
            problems.append(f"--target-epsilon must be > 0, got {cfg.target_epsilon}")
        if cfg.noise_multiplier is not None and not cfg.noise_multiplier > 0:
            problems.append(f"--noise-multiplier must be > 0 (0 is no privacy), got {cfg.noise_multiplier}")
        if cfg.delta is None:
            problems.append(f"--delta is required with --dp; pick one below 1/N = {1 / max(n_examples, 1):.3g}")
        elif not 0 < cfg.delta < 1 / max(n_examples, 1):
            # delta >= 1/N allows a mechanism that publishes one whole record and still "satisfies" DP.
            problems.append(f"--delta must be in (0, 1/N) = (0, {1 / max(n_examples, 1):.3g}) for N={n_examples} "
                            f"examples, got {cfg.delta}")
        if not cfg.max_grad_norm > 0:
            problems.append(f"--max-grad-norm must be > 0, got {cfg.max_grad_norm}")
        if cfg.accountant not in ACCOUNTANTS:
            problems.append(f"--accountant must be one of {', '.join(ACCOUNTANTS)}, got '{cfg.accountant}'")
    else:
        given = [flag for flag, v in (("--target-epsilon", cfg.target_epsilon), ("--delta", cfg.delta),
                                      ("--noise-multiplier", cfg.noise_multiplier)) if v is not None]
        if given:
            problems.append(f"{', '.join(given)} only apply to private training; add --dp or drop them")
    if cfg.grad_sample_mode not in GRAD_SAMPLE_MODES:
        problems.append(f"--grad-sample-mode must be one of {', '.join(GRAD_SAMPLE_MODES)}, "
                        f"got '{cfg.grad_sample_mode}'")
    if cfg.epochs < 1:
        problems.append(f"--epochs must be >= 1, got {cfg.epochs}")
    if cfg.batch_size < 1 or (n_examples >= 2 and cfg.batch_size > n_examples):
        problems.append(f"--batch-size must be in [1, N={n_examples}], got {cfg.batch_size}")
    if cfg.max_physical_batch_size < 1:
        problems.append(f"--max-physical-batch-size must be >= 1, got {cfg.max_physical_batch_size}")
    if not cfg.lr > 0:
        problems.append(f"--lr must be > 0, got {cfg.lr}")
    if cfg.seq_len < 2:
        problems.append(f"--seq-len must be >= 2, got {cfg.seq_len}")
    if cfg.lora and cfg.train_last_layers is not None:
        problems.append("choose one of --lora and --train-last-layers")
    if cfg.train_last_layers is not None and cfg.train_last_layers < 1:
        problems.append(f"--train-last-layers must be >= 1, got {cfg.train_last_layers}")
    if cfg.lora and cfg.lora_rank < 1:
        problems.append(f"--lora-rank must be >= 1, got {cfg.lora_rank}")
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
