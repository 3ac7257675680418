"""`finetune()`: what `evalsuite finetune` calls; validate everything, train, save, record.

Order matters: the data and the whole configuration are validated, the output
folder checked and the model's layers put through Opacus' validator before a
single step runs, so a bad config costs one line and leaves nothing on disk.
The finished checkpoint gets a `dp_finetune` record (category "privacy": epsilon,
delta, final training loss) in the results store, and with `audit=True` a
`privacy_audit` record in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.privacy.config import DPConfig


@dataclass
class FinetuneResult:
    checkpoint: Path
    privacy: dict
    epoch_losses: list
    summary: dict | None  # the run summary when a record was written


def finetune(model: str, source: dict, cfg: DPConfig, out: str | Path, *, holdout_fraction: float = 0.0,
             n_canaries: int = 0, canary_repeats: int = 1, output_dir: str | None = "evalsuite-results",
             audit: bool = False, audit_options: dict | None = None, limit: int | None = None,
             echo=print) -> FinetuneResult:
    """Fine-tune `model` (a model spec) on `source` as `cfg` says; save to `out`; write a record."""
    from evalsuite.privacy.checkpoint import check_output_dir, save_checkpoint
    from evalsuite.privacy.config import validate_config
    from evalsuite.privacy.data import prepare_data, tokenize_examples
    from evalsuite.privacy.dp_train import train
    from evalsuite.runner import resolve_model

    data = prepare_data(source, holdout_fraction=holdout_fraction, n_canaries=n_canaries,
                        canary_repeats=canary_repeats, seed=cfg.seed, limit=limit)
    train_texts = data.train_texts
    validate_config(cfg, len(train_texts))
    if audit and not data.nonmember_indices:
        raise UserError("--audit needs held-out non-members; add --audit-holdout (e.g. 0.5)")
    check_output_dir(out)
    adapter = resolve_model(model, {"progress": False})
    module, tokenizer = getattr(adapter, "module", None), getattr(adapter, "tokenizer", None)
    if module is None or tokenizer is None:
        raise UserError(f"model '{model}' exposes no torch module and tokenizer to fine-tune; use an HF model")
    is_classifier = hasattr(adapter, "classify")
    if is_classifier and data.train_labels is None:
        raise UserError(f"model '{model}' is a classifier: name the label column with --label-field")
    if is_classifier and audit:
        raise UserError("privacy_audit attacks language models (sequence likelihoods); drop --audit for a classifier")
    if cfg.dp:
        from evalsuite.privacy.config import validate_module

        validate_module(module)
    tensors = tokenize_examples(tokenizer, train_texts, cfg.seq_len, data.train_labels)
    device = next(module.parameters()).device
    module.float()  # DP noise and per-example norms in bf16 lose the guarantee's precision
    result = train(module, [t.to(device) for t in tensors], cfg, echo=echo)
    training = {"base_model": model, "config": cfg.to_json(), "data": data.manifest(),
                "epoch_losses": result.epoch_losses, "wall_time_s": result.wall_time_s}
    path = save_checkpoint(out, result.module, tokenizer, result.privacy, training)
    echo(f"[finetune] saved {path}" + (f" (epsilon {result.privacy['epsilon']:.3f}, delta {cfg.delta:g}, "
                                       f"{result.privacy['accountant']})" if cfg.dp else " (no DP)"))
    summary = None
    if output_dir is not None:
        summary = record_checkpoint(path, output_dir, audit=audit, audit_options=audit_options, echo=echo,
                                    classifier=is_classifier)
    return FinetuneResult(path, result.privacy, result.epoch_losses, summary)


def finetune_record_job(folder: Path):
    """A job that reports a checkpoint's privacy record and training loss (no model calls)."""
    from evalsuite.jobs import Job, JobOutcome
    from evalsuite.privacy.checkpoint import read_checkpoint_info
    from evalsuite.records import metric_entry
    from evalsuite.task_types import LOWER

    def run(model, ctx):
        privacy, training = read_checkpoint_info(folder)
        metrics = {"train_loss": metric_entry(float(training["epoch_losses"][-1]), LOWER.to_json(), None,
                                              "final epoch mean", privacy.get("n_train_examples", 0))}
        if privacy.get("dp"):
            method = f"accountant:{privacy['accountant']}"
            metrics["epsilon"] = metric_entry(float(privacy["epsilon"]), LOWER.to_json(), None, method, 1)
            metrics["delta"] = metric_entry(float(privacy["delta"]), LOWER.to_json(), None, method, 1)
        return JobOutcome(metrics=metrics, samples=[], data_hash=training["data"]["data_sha256"],
                          details={"privacy": privacy, "training": {k: v for k, v in training.items()
                                                                    if k != "data"}, "checkpoint": str(folder)})

    return Job(run=run, category="privacy", description="DP fine-tuning record", name="dp_finetune")


def record_checkpoint(folder: Path, output_dir: str, *, audit: bool = False, audit_options: dict | None = None,
                      echo=print, classifier: bool = False) -> dict:
    """Index the checkpoint in the results store: a dp_finetune record, and privacy_audit when asked."""
    from evalsuite.config import RunConfig
    from evalsuite.models.classifiers import HFSequenceClassifier
    from evalsuite.models.hf import HFCausalLM
    from evalsuite.privacy.job import privacy_audit
    from evalsuite.runner import ResolvedTask, run_resolved

    adapter = (HFSequenceClassifier if classifier else HFCausalLM)(str(folder), progress=False)
    tasks = [ResolvedTask("dp_finetune", "native", spec=finetune_record_job(Path(folder)))]
    if audit:
        tasks.append(ResolvedTask("privacy_audit", "native", spec=privacy_audit()))
    config = RunConfig(model=str(folder), tasks=[t.name for t in tasks], output_dir=output_dir, progress=False,
                       job_options=dict(audit_options or {}))
    return run_resolved(adapter, tasks, config, echo=echo)
