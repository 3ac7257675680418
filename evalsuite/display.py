"""Plain-text tables of results, for `evalsuite run` and `evalsuite show`."""

from __future__ import annotations


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4f}" if abs(x) < 1e4 else f"{x:.4g}"
    return str(x)


def _direction(m: dict) -> str:
    if m["direction"] == "ideal":
        return f"ideal {m['ideal']:g}"
    return {"higher": "higher is better", "lower": "lower is better"}.get(m["direction"], m["direction"])


def results_table(records: list[dict], wide: bool = False) -> str:
    rows = [("task", "metric", "value", "95% CI", "n", "direction")]
    for rec in records:
        for name, m in rec["metrics"].items():
            ci = m.get("ci")
            ci_text = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and None not in ci else "-"
            rows.append((rec["task"], name, _fmt(m["value"]), ci_text, _fmt(m.get("n")), _direction(m)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
