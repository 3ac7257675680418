"""DP-SGD cost: step time and peak memory, non-private vs per-example hooks vs functorch vs ghost clipping.

    python benchmarks/bench_dp.py [--n-embd 128 --n-layer 4 --seq-len 128 --batch 16 --steps 10]

Same model (a GPT-2 with untied embeddings, so ghost clipping can train every
weight), same fixed batch, same optimizer (AdamW) in every mode; only how the
gradient is made differs. Each mode runs in its own subprocess so peak memory is
its own: on CUDA torch.cuda.max_memory_allocated (tensor memory); on CPU the
process' peak resident set size (ru_maxrss: everything the process touched,
Python and libraries included, so compare the differences between modes).
Prints a table and the ratios against non-private training.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MODES = ("nonprivate", "hooks", "functorch", "ghost")


def one_mode(args) -> dict:
    import resource

    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import GPT2Config, GPT2LMHeadModel

    from evalsuite.privacy.dp_train import forward_logits, make_private, sequence_loss_class

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = GPT2Config(vocab_size=args.vocab, n_positions=args.seq_len, n_embd=args.n_embd, n_layer=args.n_layer,
                        n_head=max(1, args.n_embd // 64), tie_word_embeddings=False, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).to(device).train()
    ids = torch.randint(0, args.vocab, (args.batch, args.seq_len), device=device)
    tensors = (ids, torch.ones_like(ids), ids.clone())
    loader = DataLoader(TensorDataset(*tensors), batch_size=args.batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    criterion = sequence_loss_class()()
    if args.mode != "nonprivate":
        model, optimizer, criterion, loader, _ = make_private(
            model, optimizer, loader, noise_multiplier=1.0, max_grad_norm=1.0, mode=args.mode, accountant="prv",
            poisson_sampling=False)  # the same fixed batch in every mode
    batch = next(iter(loader))
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(forward_logits(model, batch), batch[2])
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"mode": args.mode, "median_step_s": times[len(times) // 2], "peak_bytes": peak,
            "memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS",
            "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{args.threads} threads",
            "n_parameters": sum(p.numel() for p in model.parameters())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # set in the per-mode subprocess
    args = ap.parse_args(argv)
    if args.mode:
        print(json.dumps(one_mode(args)))
        return
    rows = []
    for mode in MODES:
        cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--mode", mode]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{mode}: failed\n{proc.stderr[-2000:]}")
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = next((r for r in rows if r["mode"] == "nonprivate"), None)
    print(f"model: GPT-2 n_embd={args.n_embd} n_layer={args.n_layer} vocab={args.vocab} "
          f"({rows[0]['n_parameters'] if rows else '?'} parameters); batch {args.batch} x {args.seq_len} tokens; "
          f"{rows[0]['device'] if rows else ''}; memory: {rows[0]['memory_kind'] if rows else ''}")
    print(f"{'mode':12} {'step (s)':>10} {'x non-private':>14} {'peak MiB':>10} {'x non-private':>14}")
    for r in rows:
        t_ratio = r["median_step_s"] / base["median_step_s"] if base else float("nan")
        m_ratio = r["peak_bytes"] / base["peak_bytes"] if base else float("nan")
        print(f"{r['mode']:12} {r['median_step_s']:10.4f} {t_ratio:14.2f} {r['peak_bytes'] / 2**20:10.1f} "
              f"{m_ratio:14.2f}")


if __name__ == "__main__":
    main()
