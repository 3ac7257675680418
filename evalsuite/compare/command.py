"""`evalsuite compare --model M --variants base,int8-dynamic,prune:0.3 --tasks ...`

The tasks and options are checked first, then the base model runs one sample into a
discarded folder (one-time imports are then not charged to the first variant). Each variant is built once by
the model factory, then run through `run()` with the request cache off (`--warmup` unmeasured runs first, then `--repeats` measured ones, so
energy comes with its spread). Around each variant: its size on disk, its peak resident
memory above what the process held before it was built (sampled every 20 ms), and the
latency of answering one sample's requests alone (p50/p95 over up to 32 samples).
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from evalsuite.commands import add_output_flags
from evalsuite.errors import UserError
from evalsuite.registry import command

LATENCY_SAMPLES = 32


@command("compare", description="a model and its variants (quantized, pruned, lighter) on the same tasks: "
         "metrics, paired tests, subgroup flips, energy, latency, memory, size")
def compare_command(p):
    p.add_argument("--model", required=True, help="the base model, as for evalsuite run")
    p.add_argument("--variants", required=True, metavar="base,V,...",
                   help="comma-separated variants, the first is the reference (see: evalsuite list variants)")
    p.add_argument("--tasks", required=True, help="comma-separated task names")
    p.add_argument("--tasks-path", action="append", default=[], help="folder of task files")
    p.add_argument("--model-args", action="append", default=[], metavar="KEY=VALUE,...")
    p.add_argument("--task-args", action="append", default=[], metavar="[TASK:]KEY=VALUE,...")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda when present)")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--bootstrap-resamples", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=1, help="measured runs per variant (energy spread)")
    p.add_argument("--warmup", type=int, default=0, help="unmeasured runs per variant before the measured ones")
    add_output_flags(p)
    return _compare


def _variants(text: str) -> list[str]:
    from evalsuite.variants import check_variant
    from evalsuite.variants.apply import BASE

    names = [v.strip() for v in text.split(",") if v.strip()]
    problems = []
    if len(names) < 2:
        problems.append("--variants needs a reference and at least one variant, e.g. base,int8-dynamic")
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:
        problems.append(f"--variants names {', '.join(repeated)} more than once")
    for name in names:
        if name != BASE:
            try:
                check_variant(name)
            except UserError as exc:
                problems.append(str(exc))
    if problems:
        raise UserError("; ".join(problems))
    return names


def _compare(args) -> int:
    from evalsuite.cli import key_values
    from evalsuite.compare.render import table, write_report
    from evalsuite.compare.report import build_report
    from evalsuite.config import RunConfig
    from evalsuite.progress import output
    from evalsuite.records import slug

    variants = _variants(args.variants)
    if args.repeats < 1 or args.warmup < 0:
        raise UserError("--repeats must be at least 1 and --warmup at least 0")
    config = RunConfig(model=args.model, tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
                       tasks_path=args.tasks_path, output_dir=args.output_dir,
                       model_args=key_values(args.model_args, "--model-args"),
                       task_args=key_values(args.task_args, "--task-args"), device=args.device, limit=args.limit,
                       seed=args.seed, bootstrap_resamples=args.bootstrap_resamples, use_cache=False,
                       progress=not args.quiet)
    with output(args.quiet):
        _prime(config)
        measured = [_measure_variant(config, v, repeats=args.repeats, warmup=args.warmup) for v in variants]
    report = build_report(args.model, measured, n_resamples=args.bootstrap_resamples, seed=args.seed)
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    folder = Path(args.output_dir) / "compare" / f"{stamp}-{slug(args.model)[:40]}"
    write_report(report, folder)
    print(table(report))
    print(f"report: {folder / 'report.html'}")
    return 0


def _prime(config) -> None:
    """Check everything, then run the base model on one sample into a discarded folder: one-time imports and
    file reads are then charged to no variant's memory, time or energy."""
    import tempfile

    from evalsuite.runner import plan_run, run

    plan_run(config)  # every problem with the tasks or options, before any model is measured
    with tempfile.TemporaryDirectory(prefix="evalsuite-compare-prime-") as scratch:
        run(replace(config, output_dir=scratch, limit=1, progress=False))


def _measure_variant(config, variant: str, *, repeats: int, warmup: int) -> dict:
    from evalsuite.models.factory import build_model, resolve_model_spec
    from evalsuite.runner import run
    from evalsuite.variants import apply_variant, model_size_bytes

    gc.collect()
    before = _rss_mib()
    spec = resolve_model_spec(config.model, config.model_args, config.model_flags(),
                              internal={"progress": config.progress})
    with _PeakRss() as peak:
        adapter = apply_variant(build_model(spec), variant)
        runs = [run(replace(config, variant=variant), model=adapter)["records"] for _ in range(warmup + repeats)]
    result = {"variant": variant, "runs": runs, "warmup": warmup, "size_bytes": model_size_bytes(adapter),
              "peak_rss_mib": round(peak.peak - before, 1), "latency_ms": _latency(adapter, runs[-1])}
    del adapter
    gc.collect()
    return result


def _rss_mib() -> float:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakRss:
    """The largest resident set seen while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        self.peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def _request(d: dict):
    from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodRolling

    if "continuation" in d:
        return Loglikelihood(d["context"], d["continuation"])
    if "text" in d:
        return LoglikelihoodRolling(d["text"])
    return Generate(d["prompt"], tuple(d.get("until") or ()), d.get("max_new_tokens", 32))


def _latency(adapter, records: dict) -> dict | None:
    """Per-sample latency: one sample's requests answered alone, for the first task that sends requests."""
    import numpy as np

    from evalsuite.answering import answer
    from evalsuite.records import read_jsonl, read_record

    for path in records.values():
        record = read_record(path)
        if not record.get("samples_file"):
            continue
        rows = read_jsonl(Path(path).parent / record["samples_file"], what="samples file")
        rows = [r for r in rows if r.get("requests")][:LATENCY_SAMPLES]
        if not rows:
            continue
        times = []
        for row in rows:
            requests = [_request(d) for d in row["requests"]]
            t0 = time.perf_counter()
            answer(adapter, requests, None)
            times.append(1000 * (time.perf_counter() - t0))
        return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)), "n": len(times),
                "task": record["task"]}
    return None
