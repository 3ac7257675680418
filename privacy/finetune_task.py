"""`dp_finetune_audit`: DP fine-tuning and its privacy audit as one task of `evalsuite run`.

    evalsuite run --model demo --tasks dp_finetune_audit --task-args target_epsilon=4,delta=1e-5

The run's model is fine-tuned with DP-SGD (Opacus) on a task's documents or a file, half of
them held out as non-members and a few canaries planted; the checkpoint is saved inside
the record's folder and attacked at once (membership inference against the base model as
reference, canary exposure, empirical epsilon bound). The record is the audit's, so it
carries the accountant's epsilon next to what the attacks could prove.

Options (--task-args): task (default demo_heldout_ppl) or data (a JSONL/CSV file with a
`text` field), target_epsilon (4) or noise_multiplier, delta (1e-5), epochs (1),
batch_size (16), seq_len (128), holdout (0.5), canaries (4), accountant (prv),
grad_sample_mode (auto), lora (0/1).
"""

from __future__ import annotations

from evalsuite.errors import UserError
from evalsuite.jobs import Job
from evalsuite.registry import task


def _number(name: str, value, kind=float):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise UserError(f"task 'dp_finetune_audit' option {name} must be a number, got '{value}'") from None


@task("dp_finetune_audit")
def dp_finetune_audit(task: str = "demo_heldout_ppl", data: str | None = None, target_epsilon="4",
                      noise_multiplier=None, delta="1e-5", epochs="1", batch_size="16", seq_len="128",
                      holdout="0.5", canaries="4", accountant: str = "prv", grad_sample_mode: str = "auto",
                      lora="0") -> Job:
    """DP-SGD fine-tuning of the model (Opacus), then membership inference and canary exposure on the result."""
    from evalsuite.privacy.config import DPConfig

    cfg = DPConfig(dp=True, target_epsilon=None if noise_multiplier else _number("target_epsilon", target_epsilon),
                   noise_multiplier=_number("noise_multiplier", noise_multiplier) if noise_multiplier else None,
                   delta=_number("delta", delta), epochs=_number("epochs", epochs, int),
                   batch_size=_number("batch_size", batch_size, int), seq_len=_number("seq_len", seq_len, int),
                   accountant=accountant, grad_sample_mode=grad_sample_mode, lora=str(lora) in ("1", "true", "True"))
    source = ({"kind": "file", "path": data, "text_field": "text"} if data
              else {"kind": "task", "name": task, "text_field": "text"})
    holdout_fraction, n_canaries = _number("holdout", holdout), _number("canaries", canaries, int)

    def run(model, ctx):
        from evalsuite.models.hf import HFCausalLM
        from evalsuite.privacy.finetune import finetune
        from evalsuite.privacy.job import run_audit

        folder = getattr(model, "folder", None)
        if folder is None:
            raise UserError(f"dp_finetune_audit fine-tunes a Hugging Face causal LM folder; '{model.name}' is not one")
        quiet = (lambda message: None) if not ctx.progress else ctx.echo
        result = finetune(str(folder), source, cfg, ctx.artifacts_dir / "checkpoint", holdout_fraction=holdout_fraction,
                          n_canaries=n_canaries, output_dir=None, limit=ctx.limit, echo=quiet)
        outcome = run_audit(HFCausalLM(str(result.checkpoint), progress=False), ctx)
        outcome.details["checkpoint"] = "checkpoint"
        outcome.details["epoch_losses"] = result.epoch_losses
        return outcome

    return Job(run=run, category="privacy", requires=("module", "tokenizer"),
               description="DP fine-tuning (Opacus) and its empirical privacy audit")
