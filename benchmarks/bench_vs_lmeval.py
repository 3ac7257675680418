"""evalsuite's engine against lm-eval's own `hf` backend, side by side in one run.

Same model, same multiple-choice data with long shared contexts (the built-in
demo_story_mc by default), measured two ways:

- backend: the same lm-eval `Instance`s passed to each backend's
  `loglikelihood`, timed (median of --repeats), lm-eval at each batch size in
  --lmeval-batch-sizes with its fastest counted;
- end to end: lm-eval's `simple_evaluate` on an lm-eval YAML task over the
  same data, once per backend (task building, metrics and logging included).

Prints wall times, requests per second, both throughput ratios, the largest
per-sample loglikelihood difference and both accuracies.

    python benchmarks/bench_vs_lmeval.py                       # demo model, CPU
    python benchmarks/bench_vs_lmeval.py --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
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
target_delimiter: ""
metric_list:
  - metric: acc
"""


def _timed(fn, repeats: int):
    fn()  # warm-up: allocator, kernels, lazy imports
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the built-in demo model)")
    ap.add_argument("--data", default=str(ROOT / "tasks" / "data" / "demo_story_mc.jsonl"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--lmeval-batch-sizes", default="1,2,4,8,16,32")
    ap.add_argument("--token-budget", type=int, default=None, help="evalsuite's token budget (default: adapter's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    import lm_eval
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from evalsuite.lmeval.bridge import EvalsuiteLM
    from evalsuite.models.hf import HFCausalLM

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    if args.model is None:
        from evalsuite.demo import WEIGHTS_DIR

        args.model = str(WEIGHTS_DIR)
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    instances = [Instance("loglikelihood", row, (row["context"], choice), i)
                 for row in rows for i, choice in enumerate(row["choices"])]

    ours_model = HFCausalLM(args.model, device=args.device, dtype=args.dtype, token_budget=args.token_budget,
                            progress=False)
    ours = EvalsuiteLM(ours_model)
    ours_s, ours_ll = _timed(lambda: ours.loglikelihood(instances), args.repeats)
    print(f"backend  evalsuite  token_budget={ours_model.token_budget:<6d} {ours_s:8.3f} s")

    theirs_s, theirs_ll, best_bs = float("inf"), None, None
    for bs in [int(b) for b in args.lmeval_batch_sizes.split(",")]:
        hflm = HFLM(pretrained=args.model, dtype=args.dtype, device=args.device, batch_size=bs)
        seconds, out = _timed(lambda: hflm.loglikelihood(instances, disable_tqdm=True), args.repeats)
        print(f"backend  lm-eval hf batch_size={bs:<3d}    {seconds:8.3f} s")
        if seconds < theirs_s:
            theirs_s, theirs_ll, best_bs = seconds, out, bs

    folder = Path(tempfile.mkdtemp(prefix="bench_task_"))
    (folder / "bench_mc.yaml").write_text(TASK_YAML.format(data=Path(args.data).resolve()))
    manager = TaskManager(include_path=str(folder))
    run = dict(tasks=["bench_mc"], task_manager=manager, random_seed=0)
    e2e_ours_s, e2e_ours = _timed(lambda: lm_eval.simple_evaluate(model=ours, **run), 1)
    e2e_theirs_s, e2e_theirs = _timed(lambda: lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={args.model},dtype={args.dtype}", device=args.device,
        batch_size=best_bs, **run), 1)

    n = len(instances)
    figures = {
        "model": args.model, "device": args.device, "dtype": args.dtype, "torch_threads": torch.get_num_threads(),
        "questions": len(rows), "requests": n, "evalsuite_token_budget": ours_model.token_budget,
        "lmeval_batch_size": best_bs,
        "backend_evalsuite_s": round(ours_s, 3), "backend_lmeval_s": round(theirs_s, 3),
        "backend_evalsuite_req_per_s": round(n / ours_s, 1), "backend_lmeval_req_per_s": round(n / theirs_s, 1),
        "backend_throughput_ratio": round(theirs_s / ours_s, 2),
        "end_to_end_evalsuite_s": round(e2e_ours_s, 3), "end_to_end_lmeval_s": round(e2e_theirs_s, 3),
        "end_to_end_ratio": round(e2e_theirs_s / e2e_ours_s, 2),
        "max_abs_loglik_diff": max(abs(a[0] - b[0]) for a, b in zip(ours_ll, theirs_ll)),
        "greedy_flags_equal": all(a[1] == b[1] for a, b in zip(ours_ll, theirs_ll)),
        "acc_evalsuite": e2e_ours["results"]["bench_mc"]["acc,none"],
        "acc_lmeval": e2e_theirs["results"]["bench_mc"]["acc,none"],
    }
    for key, value in figures.items():
        print(f"{key:30s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
