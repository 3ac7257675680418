"""evalsuite's engine against lm-eval's own `hf` backend, side by side in one run.

Both run the same lm-eval YAML task (multiple choice with long shared
contexts: the built-in demo_story_mc data by default) on the same model,
through lm-eval's `simple_evaluate`; only the model backend differs. Prints
each backend's wall time and requests per second, the throughput ratio, and
the largest per-sample loglikelihood difference.

    python benchmarks/bench_vs_lmeval.py                       # demo model, CPU
    python benchmarks/bench_vs_lmeval.py --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]

TASK_YAML = """task: bench_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
"""


def _evaluate(model, model_args, manager, limit, **kw):
    import lm_eval

    t0 = time.perf_counter()
    out = lm_eval.simple_evaluate(model=model, model_args=model_args, tasks=["bench_mc"], task_manager=manager,
                                  log_samples=True, limit=limit, random_seed=0, **kw)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the built-in demo model)")
    ap.add_argument("--data", default=str(ROOT / "tasks" / "data" / "demo_story_mc.jsonl"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--lmeval-batch-sizes", default="8,32", help="lm-eval batch sizes tried; the fastest counts")
    ap.add_argument("--token-budget", type=int, default=None)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    import torch
    from lm_eval.tasks import TaskManager

    from evalsuite.lmeval.bridge import EvalsuiteLM
    from evalsuite.models.hf import HFCausalLM

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    if args.model is None:
        from evalsuite.demo import WEIGHTS_DIR

        args.model = str(WEIGHTS_DIR)
    folder = Path(tempfile.mkdtemp(prefix="bench_task_"))
    (folder / "bench_mc.yaml").write_text(TASK_YAML.format(data=Path(args.data).resolve()))
    manager = TaskManager(include_path=str(folder))

    ours_model = HFCausalLM(args.model, device=args.device, dtype=args.dtype, token_budget=args.token_budget,
                            progress=False)
    _evaluate(EvalsuiteLM(ours_model), None, manager, 4)  # warm-up: allocator, kernels, lazy imports
    ours_s, ours = _evaluate(EvalsuiteLM(ours_model), None, manager, args.limit)

    theirs_s, theirs, best_bs = float("inf"), None, None
    for bs in [int(b) for b in args.lmeval_batch_sizes.split(",")]:
        model_args = f"pretrained={args.model},dtype={args.dtype}"
        _evaluate("hf", model_args, manager, 4, device=args.device, batch_size=bs)
        seconds, out = _evaluate("hf", model_args, manager, args.limit, device=args.device, batch_size=bs)
        print(f"lm-eval hf  batch_size={bs:<3d} {seconds:8.2f} s")
        if seconds < theirs_s:
            theirs_s, theirs, best_bs = seconds, out, bs

    mine = {s["doc_id"]: [r[0] for r in s["filtered_resps"]] for s in ours["samples"]["bench_mc"]}
    ref = {s["doc_id"]: [r[0] for r in s["filtered_resps"]] for s in theirs["samples"]["bench_mc"]}
    max_diff = max(abs(a - b) for d in ref for a, b in zip(mine[d], ref[d]))
    n_requests = sum(len(v) for v in ref.values())
    figures = {
        "model": args.model, "device": args.device, "dtype": args.dtype, "torch_threads": torch.get_num_threads(),
        "samples": len(ref), "requests": n_requests,
        "evalsuite_s": round(ours_s, 3), "lmeval_s": round(theirs_s, 3), "lmeval_batch_size": best_bs,
        "evalsuite_req_per_s": round(n_requests / ours_s, 1), "lmeval_req_per_s": round(n_requests / theirs_s, 1),
        "throughput_ratio": round(theirs_s / ours_s, 2), "max_abs_loglik_diff": max_diff,
        "acc_evalsuite": ours["results"]["bench_mc"]["acc,none"], "acc_lmeval": theirs["results"]["bench_mc"]["acc,none"],
    }
    print(f"evalsuite   token_budget={ours_model.token_budget:<6d} {ours_s:8.2f} s")
    for key, value in figures.items():
        print(f"{key:24s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
