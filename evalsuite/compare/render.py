"""A comparison report as a terminal table, an HTML page and charts (PNG and SVG).

Energy figures always carry their label: `est.` for an estimate, `meas.` for a counter
reading; a chart that mixes the two says so in its title.
"""

from __future__ import annotations

import html
from pathlib import Path

from evalsuite.records import atomic_write_json, atomic_write_text


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _energy_text(energy: dict) -> str:
    if not energy or energy.get("joules_per_sample") is None:
        return "n/a"
    spread = f" ±{energy['spread']:.2g}" if energy.get("spread") is not None else ""
    return f"{energy['joules_per_sample']:.3g}{spread} J ({'est.' if energy['estimated'] else 'meas.'})"


def _headline(row: dict, task: str):
    name = row["headline"].get(task)
    m = row["metrics"].get(task, {}).get(name) if name else None
    return name, m


def table(report: dict) -> str:
    tasks = sorted({t for r in report["rows"] for t in r["metrics"]})
    head = ["variant", *[f"{t} ({_headline(report['rows'][0], t)[0]})" for t in tasks], "energy/sample",
            "latency p50/p95 ms", "peak RSS MiB", "size MiB"]
    lines = [head]
    for row in report["rows"]:
        cells = [row["variant"]]
        for t in tasks:
            _, m = _headline(row, t)
            ci = m.get("ci") if m else None
            cells.append("n/a" if not m else f"{_fmt(m['value'])}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""))
        lat = row.get("latency_ms") or {}
        cells += [_energy_text(row["energy"]),
                  f"{_fmt(lat.get('p50'))}/{_fmt(lat.get('p95'))}" if lat else "n/a",
                  _fmt(row.get("peak_rss_mib")),
                  _fmt(row["size_bytes"] / 2**20 if row.get("size_bytes") else None)]
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    for d in report["differences"]:
        mark = "*" if d["significant"] else " "
        out.append(f"{mark} {d['variant']} vs {report['base']}: {d['task']}.{d['column']} {d['diff']:+.4g} "
                   f"[{d['ci'][0]:+.3g}, {d['ci'][1]:+.3g}] p={d['p_value']:.3g} ({d['test']})")
    for f in report["flips"]:
        if f["flagged"]:
            out.append(f"! {f['variant']}: {f['group']} flipped {f['flips']}/{f['n']} decisions "
                       f"({f['flip_rate']:.1%}, CI {f['flip_ci'][0]:.1%}-{f['flip_ci'][1]:.1%})")
    estimated = [r["variant"] for r in report["rows"] if r["energy"].get("estimated")]
    if estimated:
        out.append("energy marked est. is estimated from CPU time x rated power, not measured: "
                   + (report["rows"][0]["energy"].get("assumption") or ""))
    return "\n".join(out)


def _charts(report: dict, folder: Path) -> dict[str, str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    files = {}
    rows = [r for r in report["rows"] if r["energy"].get("joules_per_sample") is not None]
    if not rows:
        return files
    label = "estimated" if any(r["energy"]["estimated"] for r in rows) else "measured"
    task = sorted(rows[0]["metrics"])[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        name, m = _headline(r, task)
        if m and m.get("value") is not None:
            ax.scatter(r["energy"]["joules_per_sample"], m["value"])
            if m.get("ci"):
                ax.vlines(r["energy"]["joules_per_sample"], *m["ci"], alpha=0.5)
            ax.annotate(r["variant"], (r["energy"]["joules_per_sample"], m["value"]), fontsize=8)
    ax.set_xlabel(f"energy per sample, J ({label})")
    ax.set_ylabel(f"{task}: {_headline(rows[0], task)[0]}")
    ax.set_title(f"{report['model']}: accuracy against energy ({label})")
    files.update(_save(fig, folder, "pareto"))
    fig, ax = plt.subplots(figsize=(6, 3 + 0.2 * len(rows)))
    values = [r["energy"]["joules_per_sample"] for r in rows]
    errors = [r["energy"].get("spread") or 0 for r in rows]
    ax.barh([r["variant"] for r in rows], values, xerr=errors)
    ax.set_xlabel(f"energy per sample, J ({label})")
    ax.set_title(f"{report['model']}: energy before and after optimisation ({label})")
    files.update(_save(fig, folder, "energy"))
    plt.close("all")
    return files


def _save(fig, folder: Path, stem: str) -> dict[str, str]:
    fig.tight_layout()
    out = {}
    for ext in ("png", "svg"):
        path = folder / f"{stem}.{ext}"
        tmp = path.with_suffix(f".tmp.{ext}")
        fig.savefig(tmp, format=ext)
        tmp.replace(path)
        out[f"{stem}_{ext}"] = path.name
    return out


def page(report: dict, charts: dict[str, str]) -> str:
    e = html.escape
    images = "".join(f'<img src="{e(charts[k])}" alt="{e(k)}">' for k in ("pareto_svg", "energy_svg") if k in charts)
    return (f"<!doctype html><meta charset='utf-8'><title>compare {e(report['model'])}</title>"
            f"<h1>{e(report['model'])}: variants compared with {e(report['base'])}</h1>"
            f"<pre>{e(table(report))}</pre>{images}"
            "<p>Differences: * marks p &lt; 0.05 (paired test named on each line). Flip rates: Wilson 95% "
            "intervals. Unstructured and row pruning store their zeros densely and save no time on dense "
            "kernels.</p>")


def write_report(report: dict, folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    charts = _charts(report, folder)
    files = {"report_json": "report.json", "report_html": "report.html", **charts}
    atomic_write_json(folder / "report.json", {**report, "files": files})
    atomic_write_text(folder / "report.html", page(report, charts))
    return files
