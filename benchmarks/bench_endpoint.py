"""Requests per second against an OpenAI-compatible server: evalsuite at concurrency 1, 4, 16, and
lm-eval's `local-completions` on the same server and task, side by side in one run.

By default it builds the tests' tiny GPT-2 (random weights, hidden 64, 2 layers),
writes it to GGUF and starts one llama-cpp-python server on 127.0.0.1 (needs
`scripts/bootstrap.sh --tests`). Both clients run the same lm-eval YAML
multiple-choice task through lm-eval's `simple_evaluate` (so task building and
metrics cost the same on both sides), with no request cache; requests per second is
loglikelihood requests / wall time. It also prints the largest per-sample
loglikelihood difference between the two clients and both accuracies.

    python benchmarks/bench_endpoint.py                 # local tiny server
    python benchmarks/bench_endpoint.py --docs 100 --concurrency 1,4,16
    python benchmarks/bench_endpoint.py --url http://127.0.0.1:8000/v1 --model NAME --tokenizer PATH

A llama-cpp-python server answers one request at a time, so concurrency there
mostly hides the client's own latency; a batching server (vLLM, TGI) scales further.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def write_task(folder: Path, n_docs: int) -> int:
    names = ["alice", "bob", "carol", "dave"]
    rows = [{"question": f"{names[i % 4]} reads old maps near the river {i}. where does {names[i % 4]} live?",
             "choices": ["paris", "the library", "near the river", "on the mat"], "label": i % 4}
            for i in range(n_docs)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "bench_endpoint_mc.yaml").write_text(
        f"task: bench_endpoint_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / 'data.jsonl'}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: \"Q: {{question}}\\nA:\"\n"
        "doc_to_choice: \"{{choices}}\"\ndoc_to_target: label\nmetric_list:\n  - metric: acc\n")
    return n_docs * 4


def evaluate(lm_eval, manager, model, **kwargs):
    t0 = time.perf_counter()
    out = lm_eval.simple_evaluate(model=model, tasks=["bench_endpoint_mc"], task_manager=manager, log_samples=True,
                                  random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0,
                                  **kwargs)
    wall = time.perf_counter() - t0
    samples = {s["doc_id"]: [r[0] for r in s["filtered_resps"]] for s in out["samples"]["bench_endpoint_mc"]}
    return wall, out["results"]["bench_endpoint_mc"]["acc,none"], samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an OpenAI-compatible /v1 URL (default: start a tiny local llama.cpp server)")
    parser.add_argument("--model", help="served model name (with --url)")
    parser.add_argument("--tokenizer", help="the served model's tokenizer folder (with --url)")
    parser.add_argument("--docs", type=int, default=50, help="documents (4 requests each)")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--lmeval-concurrency", type=int, default=4, help="lm-eval's num_concurrent")
    args = parser.parse_args()

    import lm_eval

    from evalsuite.lmeval.bridge import EvalsuiteLM
    from evalsuite.lmeval.tasks import LMEvalTasks
    from evalsuite.models.factory import load_model

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench_endpoint_"))
    server = None
    if args.url:
        url, model, tokenizer = args.url, args.model, args.tokenizer
    else:
        sys.path.insert(0, str(ROOT / "tests" / "served"))
        from served_helpers import BOS_MODEL, Server, build_tiny_gpt2, write_gguf

        hf = build_tiny_gpt2(work / "hf")
        server = Server({BOS_MODEL: write_gguf(hf, work / "tiny.gguf", add_bos=True)}, work).start()
        url, model, tokenizer = server.url, BOS_MODEL, str(hf)
    try:
        n_requests = write_task(work, args.docs)
        manager = LMEvalTasks([str(work)]).manager
        extra = ["repeat_penalty:1.0"] if server is not None else None
        rows, reference = [], None
        for c in [int(x) for x in args.concurrency.split(",")]:
            lm = load_model(f"openai-completions:{url}", model=model, tokenizer=tokenizer, concurrency=c,
                            extra=extra, progress=False)
            wall, acc, samples = evaluate(lm_eval, manager, EvalsuiteLM(lm))
            reference = reference or samples
            rows.append((f"evalsuite openai-completions, concurrency {c}", wall, acc))
        theirs_args = (f"base_url={url}/completions,model={model},tokenizer_backend=huggingface,tokenizer={tokenizer},"
                       f"tokenized_requests=False,num_concurrent={args.lmeval_concurrency},max_retries=3")
        wall, acc, theirs = evaluate(lm_eval, manager, "local-completions", model_args=theirs_args)
        rows.append((f"lm-eval local-completions, num_concurrent {args.lmeval_concurrency}", wall, acc))
        diff = max(abs(a - b) for k in reference for a, b in zip(reference[k], theirs[k]))
    finally:
        if server is not None:
            server.stop()
    print(f"server: {url} model={model}; task: {args.docs} docs x 4 choices = {n_requests} loglikelihood requests")
    print(f"{'client':<52} {'wall s':>8} {'req/s':>8} {'acc':>6}")
    for name, wall, acc in rows:
        print(f"{name:<52} {wall:>8.2f} {n_requests / wall:>8.1f} {acc:>6.3f}")
    print(f"largest per-sample loglikelihood difference, evalsuite vs lm-eval: {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
