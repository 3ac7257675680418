"""Energy per sample of the demo model and a decision tree, before and after optimisation; the meter's overhead.

    python benchmarks/bench_energy.py [--out docs/figures/green] [--repeats 3] [--limit 0]

1. The meter's own cost: `--cycles` begin/end pairs of this machine's meter, against the
   mean task time of the demo run below (a fraction of the run, measured side by side).
2. `evalsuite compare` on the demo model (base, int8-dynamic, bf16, prune:0.3,
   prune-structured:0.3) over demo_facts_mc and demo_story_mc, one warm-up run and
   `--repeats` measured runs per variant (mean and spread over the repeats).
3. `evalsuite compare` on a decision tree (scikit-learn, fitted here on a seeded synthetic
   table) against its cost-complexity-pruned variant, over the fairness audit task.

Figures are labelled by their method: on machines without RAPL or NVML (the project's CI
machine) every one is *estimated* from CPU time x rated power, and says so. Charts and the
two reports are copied to `--out`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from evalsuite.cli import main as evalsuite_main
from evalsuite.energy import meter_for


def meter_overhead(cycles: int) -> dict:
    meter = meter_for("cpu", measure_idle=False)
    t0 = time.perf_counter()
    for _ in range(cycles):
        meter.begin()
        meter.end()
    per_cycle = (time.perf_counter() - t0) / cycles
    return {"method": meter.method, "seconds_per_begin_end": per_cycle}


def compare(argv: list[str], out_dir: Path) -> dict:
    code = evalsuite_main(["compare", *argv, "--output-dir", str(out_dir), "--quiet"])
    if code != 0:
        raise SystemExit(f"compare failed ({code})")
    folder = max((out_dir / "compare").glob("*"))
    return {"folder": folder, "report": json.loads((folder / "report.json").read_text())}


def tree_fixture(folder: Path) -> tuple[Path, Path]:
    import pandas as pd
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    n = 4000
    group = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 6))
    y = ((x[:, 0] + 0.5 * x[:, 1] * (group == 1) + 0.3 * rng.normal(size=n)) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(group=group, y=y)
    train, held_out = frame.iloc[: n // 2], frame.iloc[n // 2:]  # audited on rows the tree never saw
    tree = DecisionTreeClassifier(random_state=0).fit(train[[f"x{i}" for i in range(6)]], train["y"])
    data, model = folder / "tree.csv", folder / "tree.skops"
    held_out.to_csv(data, index=False)
    sio.dump(tree, model)
    return model, data


def summary(report: dict) -> list[str]:
    lines = []
    task = sorted(report["rows"][0]["metrics"])[0]
    for row in report["rows"]:
        e = row["energy"]
        name = row["headline"][task]
        value = row["metrics"][task][name]["value"]
        spread = f" ± {e['spread']:.2g}" if e.get("spread") is not None else ""
        lat = row.get("latency_ms")
        latency = f"{lat['p50']:.3g} / {lat['p95']:.3g}" if lat else "n/a (no per-sample requests)"
        lines.append(f"| {row['variant']} | {name} {value:.3f} | {e['joules_per_sample']:.4g}{spread} J "
                     f"({'estimated' if e['estimated'] else 'measured'}) | {latency} | "
                     f"{row['peak_rss_mib']} | {row['size_bytes'] / 2**20:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures/green")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=0, help="samples per task (0: all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    limit = ["--limit", str(args.limit)] if args.limit else []
    overhead = meter_overhead(args.cycles)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        demo = compare(["--model", "demo", "--variants", "base,int8-dynamic,bf16,prune:0.3,prune-structured:0.3",
                        "--tasks", "demo_facts_mc,demo_story_mc", "--warmup", "1", "--repeats", str(args.repeats),
                        *limit], scratch / "demo")
        model, data = tree_fixture(scratch)
        tree = compare(["--model", f"sklearn:{model}", "--variants", "base,ccp:0.002,ccp:0.01",
                        "--tasks", "fairness_audit", "--task-args",
                        f"data={data},label=y,protected=group,features=x0|x1|x2|x3|x4|x5",
                        "--warmup", "1", "--repeats", str(args.repeats)], scratch / "tree")
        for name, result in (("demo", demo), ("tree", tree)):
            for file in ("pareto.svg", "pareto.png", "energy.svg", "energy.png", "report.html", "report.json"):
                shutil.copy(result["folder"] / file, out / f"{name}-{file}")
    task_seconds = demo["report"]["rows"][0]["energy"]["record_seconds"]  # the base's mean time per record
    print(f"meter: {overhead['method']}, {overhead['seconds_per_begin_end'] * 1e6:.2f} us per begin/end pair")
    if task_seconds:
        print(f"meter overhead: {overhead['seconds_per_begin_end'] / task_seconds:.2e} of a task's wall time")
    print("| variant | headline | energy/sample | latency p50 / p95 ms | peak RSS MiB | size MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(summary(demo["report"])))
    print("\n".join(summary(tree["report"])))
    for d in demo["report"]["differences"] + tree["report"]["differences"]:
        print(f"{d['variant']} {d['task']}.{d['column']}: {d['diff']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}] "
              f"p={d['p_value']:.3g}")
    for f in tree["report"]["flips"]:
        print(f"{f['variant']} {f['group']}: {f['flips']}/{f['n']} decisions flipped")


if __name__ == "__main__":
    main()
