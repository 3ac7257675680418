"""DP fine-tuning of the run's model: the library behind `dp_finetune`, `dp_finetune_audit` and the curve.

`finetune_adapter` trains a copy of the adapter's module (so the run's model stays
what its fingerprint says, and remains the base model a reference attack needs),
on the adapter's device, in float32 (DP noise and per-example norms in bf16 lose
the guarantee's precision), with the run's seed, and saves the checkpoint through
`save_checkpoint` (staged, renamed into place when complete). Nothing here loads a
model: a job that needs the checkpoint as a model builds it once through the model
factory (`load_checkpoint`).

`finetune()` is the Python entry point: a thin preset over `evalsuite.run()`, as the
`evalsuite finetune` command is.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.privacy.config import DPConfig


@dataclass
class FinetuneResult:
    checkpoint: Path
    privacy: dict
    epoch_losses: list
    summary: dict | None  # the run summary


def is_classifier(adapter) -> bool:
    return callable(getattr(adapter, "classify", None))


def model_spec_of(adapter) -> str:
    """A model spec that builds `adapter` again: its registered name ('demo') or ADAPTER:absolute folder."""
    from evalsuite.registry import REGISTRY

    name = getattr(adapter, "name", None)
    folder = getattr(adapter, "folder", None)
    if isinstance(name, str) and REGISTRY.find("model", name) is not None:
        return name
    if folder is None:
        raise UserError(f"model '{name}' has no model folder to fine-tune; use a Hugging Face model")
    return f"{getattr(adapter, 'ADAPTER', 'hf')}:{Path(folder).resolve()}"


def checkpoint_spec(adapter, folder: Path) -> str:
    """The model spec of a checkpoint fine-tuned from `adapter` (same adapter kind, the checkpoint folder)."""
    return f"{getattr(adapter, 'ADAPTER', 'hf')}:{Path(folder).resolve()}"


def run_model_options(adapter) -> dict:
    """The device and dtype the run's model uses, for a second model built through the factory."""
    options = {}
    device, dtype = getattr(adapter, "device", None), getattr(adapter, "dtype", None)
    if device is not None:
        options["device"] = str(device)
    if isinstance(dtype, str):
        options["dtype"] = dtype
    return options


def load_checkpoint(adapter, folder: Path):
    """The checkpoint as a model, built once through the model factory on the run's device and dtype."""
    from evalsuite.models.factory import load_model

    return load_model(checkpoint_spec(adapter, folder), **run_model_options(adapter))


def adapter_problems(adapter, *, has_labels: bool, dp: bool, whole_module: bool, audit: bool) -> list[str]:
    """Why `adapter` cannot be fine-tuned as asked (checked before anything is written)."""
    problems = []
    module, tokenizer = getattr(adapter, "module", None), getattr(adapter, "tokenizer", None)
    name = getattr(adapter, "name", adapter)
    if module is None or tokenizer is None:
        return [f"model '{name}' exposes no torch module and tokenizer to fine-tune; use a Hugging Face model"]
    if model_spec_of_or_none(adapter) is None:
        problems.append(f"model '{name}' has no model folder; fine-tune a Hugging Face model folder")
    if is_classifier(adapter):
        if not has_labels:
            problems.append(f"model '{name}' is a classifier: name the label column (label_field, --label-field)")
        if audit:
            problems.append("privacy_audit attacks language models (sequence likelihoods); drop --audit "
                            "(audit=false) for a classifier")
    elif audit and getattr(adapter, "loglikelihood_rolling", None) is None:
        problems.append(f"model '{name}' cannot score sequences, which the privacy audit needs")
    if dp and whole_module:
        from evalsuite.privacy.config import module_problems

        found = module_problems(module)
        if found:
            problems.append("Opacus cannot train this model privately: " + "; ".join(found)
                            + " (replace those layers, e.g. BatchNorm with GroupNorm: opacus ModuleValidator.fix)")
    return problems


def model_spec_of_or_none(adapter) -> str | None:
    try:
        return model_spec_of(adapter)
    except UserError:
        return None


@contextmanager
def opacus_notices():
    """Opacus' notices silenced: the secure-RNG notice (recorded instead, as privacy["secure_mode"]), RDP's
    alpha-range hint, torch's backward-hook notice on frozen inputs, and its logger below errors."""
    import logging

    logger = logging.getLogger("opacus")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def finetune_adapter(adapter, data, cfg: DPConfig, out: str | Path, *, base_model: str, echo=print):
    """Train a copy of `adapter`'s module on `data` as `cfg` says; save the checkpoint at `out`.

    Returns (checkpoint path, TrainResult). `base_model` is the spec training.json records (the
    reference model of a later privacy audit).
    """
    from evalsuite.privacy.checkpoint import save_checkpoint
    from evalsuite.privacy.data import tokenize_examples
    from evalsuite.privacy.dp_train import train

    module = copy.deepcopy(adapter.module)  # the run's model stays the base model
    device = getattr(adapter, "device", None) or next(module.parameters()).device
    module.float()
    tensors = tokenize_examples(adapter.tokenizer, data.train_texts, cfg.seq_len, data.train_labels)
    with opacus_notices():
        result = train(module, [t.to(device) for t in tensors], cfg, echo=echo)
    if cfg.dp:
        result.privacy["secure_mode"] = False  # Opacus' default, which its silenced notice was about
    training = {"base_model": base_model, "config": cfg.to_json(), "data": data.manifest(checkpoint=out),
                "epoch_losses": result.epoch_losses, "wall_time_s": result.wall_time_s}
    path = save_checkpoint(out, result.module, adapter.tokenizer, result.privacy, training)
    echo(f"[finetune] saved {path}" + (f" (epsilon {result.privacy['epsilon']:.3f}, delta {cfg.delta:g}, "
                                       f"{result.privacy['accountant']})" if cfg.dp else " (no DP)"))
    return path, result


def finetune(model, source: dict, cfg: DPConfig, out: str | Path, *, holdout_fraction: float = 0.0,
             n_canaries: int = 0, canary_repeats: int = 1, output_dir: str | Path | None = "evalsuite-results",
             audit: bool = False, audit_options: dict | None = None, limit: int | None = None, progress: bool = False,
             echo=None) -> FinetuneResult:
    """Fine-tune `model` (a model spec, or a ready adapter) on `source`; save to `out`; record it.

    A preset over `evalsuite.run()`: the `dp_finetune` task with these options and `cfg.seed` as the
    run's seed. With `output_dir=None` the record goes to a temporary results folder, removed after.
    """
    import tempfile

    from evalsuite.config import RunConfig
    from evalsuite.privacy.checkpoint import read_checkpoint_info
    from evalsuite.runner import run

    task_args = {**dp_task_args(cfg, source), "out": str(out), "holdout": holdout_fraction, "canaries": n_canaries,
                 "canary_repeats": canary_repeats, "audit": audit, **(audit_options or {})}
    with tempfile.TemporaryDirectory(prefix="evalsuite-finetune-") as scratch:
        results = Path(output_dir) if output_dir is not None else Path(scratch)
        given = model if not isinstance(model, str) else None
        config = RunConfig(model=model if isinstance(model, str) else getattr(model, "name", "model"),
                           tasks=["dp_finetune"], output_dir=str(results), task_args=task_args, limit=limit,
                           seed=cfg.seed, use_cache=False, progress=progress)
        summary = run(config, model=given, echo=echo)
        if output_dir is None:
            summary = None
    privacy, training = read_checkpoint_info(out)
    return FinetuneResult(Path(out), privacy, training["epoch_losses"], summary)


def dp_task_args(cfg: DPConfig, source: dict) -> dict:
    """A DPConfig and a data source as the options of the dp_finetune tasks (the seed is the run's)."""
    args = {k: v for k, v in cfg.to_json().items() if k != "seed"}
    if source.get("kind") == "file":
        args["data"] = str(source["path"])
    else:
        args["task"] = source["name"]
    args["text_field"] = source.get("text_field") or "text"
    if source.get("label_field"):
        args["label_field"] = source["label_field"]
    return args
