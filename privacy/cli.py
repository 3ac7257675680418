"""`evalsuite finetune` and `evalsuite privacy-curve`: presets over `evalsuite.run()` (command plugins).

`finetune` runs the `dp_finetune` task on --model (its record is the fine-tune record,
and carries the audit too with --audit); `privacy-curve` runs `privacy_utility`. The
handlers only turn flags into a RunConfig: the seed, the model factory, the record
names, the results store and every error are those of `evalsuite run`. Light to
import: argparse here, the library (torch, opacus) only when a run starts.
"""

from __future__ import annotations

import re

from evalsuite.errors import UserError
from evalsuite.registry import command

# Task options whose flag is not the option's name with dashes.
_FLAG_FOR = {"holdout": "--audit-holdout", "epsilons": "--epsilons"}
# Option names that are also plain words: renamed only where the message uses them as an option.
_WORDY = r"(?= must| is required| only appl| '| \()"


def as_flags(message: str, task: str) -> str:
    """A task's error re-worded for the command line: `--target-epsilon` where the task says `target_epsilon`,
    without the task's name and the "(--task-args)" the runner adds, which a command's user never typed."""
    from evalsuite.options import declared_options
    from evalsuite.registry import REGISTRY

    message = message.replace(" (--task-args)", "")
    message = re.sub(rf"task '[^']*{re.escape(task)}'(?: option|:) ", "", message)
    for name in sorted(declared_options(REGISTRY.get("task", task).obj), key=len, reverse=True):
        flag = _FLAG_FOR.get(name, "--" + name.replace("_", "-"))
        tail = "" if "_" in name else (r"(?= must| is required)" if name in ("task", "tasks") else _WORDY)
        message = re.sub(rf"(?<![\w/-]){name}(?![\w/-]){tail}", flag, message)
    return message


def _with_flags(task: str, config) -> int:
    from evalsuite.cli import run_and_report

    try:
        return run_and_report(config[0], wide=config[1])
    except UserError as exc:
        raise UserError(as_flags(str(exc), task)) from None


def _add_training_flags(p) -> None:
    from evalsuite.commands import add_output_flags

    p.add_argument("--model", required=True, help="model to fine-tune: 'demo', an HF folder, or ADAPTER:SPEC")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="JSONL/JSON/CSV/Parquet file of training texts")
    src.add_argument("--task", help="a registered task whose documents are the training texts")
    p.add_argument("--text-field", default="text", help="the text column (default: text)")
    p.add_argument("--label-field", help="a label column (classifiers)")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="per-example clipping norm C")
    p.add_argument("--accountant", default="prv", help="prv or rdp (default prv)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16, help="expected logical batch (Poisson sampling)")
    p.add_argument("--max-physical-batch-size", type=int, default=8, help="largest forward/backward batch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seq-len", type=int, default=128, help="tokens per example (longer ones are cut)")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (merged into the saved weights)")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--train-last-layers", type=int, help="train only the last K transformer blocks")
    p.add_argument("--grad-sample-mode", default="auto", help="auto, hooks, ghost or functorch")
    p.add_argument("--limit", type=int, help="use only the first N examples")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda when present)")
    p.add_argument("--dtype", help="weights dtype of the model (training itself runs in float32)")
    p.add_argument("--seed", type=int, default=1234)
    add_output_flags(p)


def _training_args(args) -> dict:
    out = {"text_field": args.text_field, "max_grad_norm": args.max_grad_norm, "accountant": args.accountant,
           "epochs": args.epochs, "batch_size": args.batch_size, "max_physical_batch_size": args.max_physical_batch_size,
           "lr": args.lr, "seq_len": args.seq_len, "lora": args.lora, "lora_rank": args.lora_rank,
           "train_last_layers": args.train_last_layers, "grad_sample_mode": args.grad_sample_mode}
    out.update({"data": args.data} if args.data else {"task": args.task})
    if args.label_field:
        out["label_field"] = args.label_field
    return out


def _config(args, task: str, task_args: dict):
    from evalsuite.config import RunConfig

    return RunConfig(model=args.model, tasks=[task], output_dir=args.output_dir, task_args=task_args,
                     device=args.device, dtype=args.dtype, limit=args.limit, seed=args.seed, use_cache=False,
                     progress=not args.quiet)


@command("finetune", description="fine-tune a model, with DP-SGD (Opacus) when --dp is given; records the "
         "privacy claim (and the privacy audit with --audit)")
def finetune_command(p):
    _add_training_flags(p)
    p.add_argument("--dp", action="store_true", help="train with differential privacy (DP-SGD)")
    p.add_argument("--target-epsilon", type=float, help="epsilon to reach at the end (with --delta)")
    p.add_argument("--delta", type=float, help="delta, below 1/N")
    p.add_argument("--noise-multiplier", type=float, help="noise multiplier sigma (instead of --target-epsilon)")
    p.add_argument("--out", required=True, help="new folder for the checkpoint")
    p.add_argument("--audit", action="store_true", help="also attack the checkpoint (membership inference, "
                   "canary exposure); the record carries both")
    p.add_argument("--audit-holdout", type=float, default=0.0,
                   help="fraction of the data held out as non-members for the audit")
    p.add_argument("--canaries", type=int, default=0, help="plant N secret canaries in the training data")
    p.add_argument("--canary-repeats", type=int, default=1, help="copies of each canary")
    p.add_argument("--audit-canaries", type=int, default=0, help="one-run audit canaries, each trained on (once) "
                   "by its own fair coin: a tighter empirical epsilon bound (Steinke, Nasr, Jagielski 2023)")
    p.add_argument("--reference-model", help="reference for the calibrated attack (default: the base model)")
    return _finetune


def _finetune(args) -> int:
    task_args = {**_training_args(args), "dp": args.dp, "out": args.out, "audit": args.audit,
                 "holdout": args.audit_holdout, "canaries": args.canaries, "canary_repeats": args.canary_repeats,
                 "audit_canaries": args.audit_canaries}
    for key in ("target_epsilon", "delta", "noise_multiplier", "reference_model"):
        if getattr(args, key) is not None:
            task_args[key] = getattr(args, key)
    # The claim (epsilon, delta) is the point of a private fine-tune: the table lists every metric.
    return _with_flags("dp_finetune", (_config(args, "dp_finetune", task_args), True))


@command("privacy-curve", description="fine-tune at several epsilons and without DP; evaluate each on the same "
         "tasks; record and plot utility against privacy")
def privacy_curve_command(p):
    _add_training_flags(p)
    p.add_argument("--epsilons", required=True, help="comma-separated target epsilons, e.g. 1,4,16")
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--tasks", required=True, help="comma-separated tasks to evaluate every checkpoint on")
    p.add_argument("--tasks-path", action="append", default=[], help="folder of task files")
    p.add_argument("--out", required=True, help="new folder for the checkpoints")
    return _curve


def _curve(args) -> int:
    task_args = {**_training_args(args), "epsilons": [e.strip() for e in args.epsilons.split(",") if e.strip()],
                 "delta": args.delta, "tasks": [t.strip() for t in args.tasks.split(",") if t.strip()],
                 "tasks_path": list(args.tasks_path), "out": args.out}
    return _with_flags("privacy_utility", (_config(args, "privacy_utility", task_args), args.wide))
