"""Plain-text tables of results, for `evalsuite run` and `evalsuite show`.

By default one row per task: its headline metric (the record's `headline` key, else
its first metric) with the confidence interval and sample count, plus the ECE of a
multiple-choice task and the robustness drop under `--perturb` where a record has
them; `wide=True` lists every metric. Numbers keep four significant digits whatever their scale (1e-05,
0.9350, 2.394, 12,345), and every name is passed through `terminal_safe`, since task
and metric names are data that may hold control characters.
"""

from __future__ import annotations

import math

from evalsuite.text import terminal_safe

SIGNIFICANT = 4
# Shown under the headline whenever a record has them: calibration of multiple choice, robustness under --perturb.
ALSO_SHOWN = ("ece", "robustness_drop")


def fmt_number(x) -> str:
    """A number for a table: four significant digits, thousands separated, `-` for none."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if not isinstance(x, float):
        try:
            x = float(x)
        except (TypeError, ValueError):
            return terminal_safe(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    size = abs(x)
    if size < 1e-3 or size >= 1e15:
        return f"{x:.{SIGNIFICANT}g}"  # 1e-05, 1.235e-07, 1.235e+16
    if size >= 10 ** (SIGNIFICANT - 1):
        return f"{x:,.0f}"  # 1,234 and 12,345: whole numbers, nothing after the point to keep
    return f"{x:#.{SIGNIFICANT}g}"  # 0.9350, 2.394, 12.35 (trailing zeros kept so a column reads evenly)


def _direction(m: dict) -> str:
    direction = m.get("direction")
    if direction == "ideal":
        ideal = m.get("ideal")
        return f"ideal {ideal:g}" if isinstance(ideal, (int, float)) else f"ideal {fmt_number(ideal)}"
    return {"higher": "higher is better", "lower": "lower is better"}.get(direction, terminal_safe(direction or "-"))


def _ci(m: dict) -> str:
    ci = m.get("ci")
    if not ci or len(ci) != 2 or None in ci:
        return "-"
    return f"[{fmt_number(ci[0])}, {fmt_number(ci[1])}]"


def _headline(rec: dict) -> str | None:
    metrics = rec.get("metrics") or {}
    named = rec.get("headline")
    if named in metrics:
        return named
    return next(iter(metrics), None)


def results_table(records: list[dict], wide: bool = False) -> str:
    """The records as an aligned table: one headline row per task, or every metric with `wide`."""
    rows = [("task", "metric", "value", "95% CI", "n", "direction")]
    hidden = 0
    for rec in records:
        metrics = rec.get("metrics") or {}
        task = terminal_safe(rec.get("task", "-"))
        if wide:
            names = list(metrics)
        else:
            headline = _headline(rec)
            names = [headline] if headline is not None else []
            names += [n for n in ALSO_SHOWN if n in metrics and n not in names]
            hidden += max(0, len(metrics) - len(names))
        if not names:
            rows.append((task, "-", "-", "-", "-", "-"))
        for name in names:
            m = metrics[name]
            rows.append((task, terminal_safe(name), fmt_number(m.get("value")), _ci(m), fmt_number(m.get("n")),
                         _direction(m)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if hidden:
        lines.append(f"({hidden} more metric{'s' if hidden != 1 else ''} not shown; --wide lists every metric)")
    return "\n".join(lines)
