"""`evalsuite finetune` and `evalsuite privacy-curve` (registered by evalsuite.cli.COMMAND_MODULES).

Light to import: argparse here, the library (torch, opacus) only inside the handlers.
"""

from __future__ import annotations

import sys


def _echo(message: str) -> None:
    print(message, file=sys.stderr)


def _progress(args):
    return (lambda message: None) if args.quiet else _echo


def _add_training_flags(p) -> None:
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
    p.add_argument("--audit-holdout", type=float, default=0.0,
                   help="fraction of the data held out as non-members for a privacy audit")
    p.add_argument("--canaries", type=int, default=0, help="plant N secret canaries in the training data")
    p.add_argument("--canary-repeats", type=int, default=1, help="copies of each canary")
    p.add_argument("--limit", type=int, help="use only the first N examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default="evalsuite-results", help="results root (records, store)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def register(subparsers) -> None:
    """Add this subsystem's commands to the `evalsuite` parser."""
    f = subparsers.add_parser("finetune", help="fine-tune a model, with DP-SGD (Opacus) when --dp is given")
    _add_training_flags(f)
    f.add_argument("--dp", action="store_true", help="train with differential privacy (DP-SGD)")
    f.add_argument("--target-epsilon", type=float, help="epsilon to reach at the end (with --delta)")
    f.add_argument("--delta", type=float, help="delta, below 1/N")
    f.add_argument("--noise-multiplier", type=float, help="noise multiplier sigma (instead of --target-epsilon)")
    f.add_argument("--out", required=True, help="new folder for the checkpoint")
    f.add_argument("--audit", action="store_true", help="also run privacy_audit on the checkpoint")
    f.add_argument("--reference-model", help="reference for the calibrated attack (default: the base model)")
    f.set_defaults(handler=_cmd_finetune)

    c = subparsers.add_parser("privacy-curve", help="fine-tune at several epsilons and without DP; "
                              "evaluate each on the same tasks; record and plot utility against privacy")
    _add_training_flags(c)
    c.add_argument("--epsilons", required=True, help="comma-separated target epsilons, e.g. 1,4,16")
    c.add_argument("--delta", type=float, required=True)
    c.add_argument("--tasks", required=True, help="comma-separated tasks to evaluate every checkpoint on")
    c.add_argument("--tasks-path", action="append", default=[], help="folder of task files")
    c.add_argument("--out", required=True, help="new folder for the checkpoints")
    c.set_defaults(handler=_cmd_curve)


def _config(args, **privacy):
    from evalsuite.privacy.config import DPConfig

    return DPConfig(max_grad_norm=args.max_grad_norm, accountant=args.accountant, epochs=args.epochs,
                    batch_size=args.batch_size, max_physical_batch_size=args.max_physical_batch_size, lr=args.lr,
                    seq_len=args.seq_len, lora=args.lora, lora_rank=args.lora_rank,
                    train_last_layers=args.train_last_layers, grad_sample_mode=args.grad_sample_mode,
                    seed=args.seed, **privacy)


def _source(args) -> dict:
    base = {"text_field": args.text_field, "label_field": args.label_field}
    return {"kind": "file", "path": args.data, **base} if args.data else {"kind": "task", "name": args.task, **base}


def _cmd_finetune(args) -> int:
    from evalsuite.privacy.finetune import finetune

    cfg = _config(args, dp=args.dp, target_epsilon=args.target_epsilon, delta=args.delta,
                  noise_multiplier=args.noise_multiplier)
    options = {"reference_model": args.reference_model} if args.reference_model else {}
    result = finetune(args.model, _source(args), cfg, args.out, holdout_fraction=args.audit_holdout,
                      n_canaries=args.canaries, canary_repeats=args.canary_repeats, output_dir=args.output_dir,
                      audit=args.audit, audit_options=options, limit=args.limit, echo=_progress(args))
    print(f"checkpoint: {result.checkpoint}")
    if result.privacy.get("dp"):
        p = result.privacy
        print(f"epsilon {p['epsilon']:.4f} (delta {p['delta']:g}, accountant {p['accountant']}, sigma "
              f"{p['noise_multiplier']:.4f}, q {p['sample_rate']:.4g}, steps {p['steps']}, C {p['max_grad_norm']}, "
              f"{p['grad_sample_mode']})")
    if result.summary:
        print(f"records: {result.summary['path']}")
    return 0


def _cmd_curve(args) -> int:
    from evalsuite.errors import UserError
    from evalsuite.privacy.utility_curve import utility_curve

    try:
        epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    except ValueError:
        raise UserError(f"--epsilons must be numbers separated by commas, got '{args.epsilons}'") from None
    summary = utility_curve(args.model, _source(args), _config(args, dp=True, delta=args.delta), epsilons,
                            [t.strip() for t in args.tasks.split(",") if t.strip()], args.out,
                            tasks_path=args.tasks_path, output_dir=args.output_dir, limit=args.limit,
                            echo=_progress(args))
    print(f"records: {summary['path']}")
    return 0
