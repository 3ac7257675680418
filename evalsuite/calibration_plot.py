"""The reliability diagram written next to a multiple-choice record, as a small self-contained SVG.

Drawn by hand (no matplotlib import, so a run pays nothing for it): accuracy against mean
confidence per equal-mass bin, with the diagonal a calibrated model follows, bins sized by their
sample count, and the accuracy-coverage curve of selective prediction in a second panel.
"""

from __future__ import annotations

from html import escape

W, H, PAD = 300, 300, 40


def _xy(x: float, y: float, left: float) -> tuple[float, float]:
    return left + PAD + x * (W - 2 * PAD), H - PAD - y * (H - 2 * PAD)


def _axes(left: float, xlabel: str, ylabel: str) -> list[str]:
    out = []
    x0, y0 = _xy(0, 0, left)
    x1, y1 = _xy(1, 1, left)
    out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#888"/>')
    for t in (0, 0.5, 1):
        tx, _ = _xy(t, 0, left)
        _, ty = _xy(0, t, left)
        out.append(f'<text x="{tx}" y="{y0 + 14}" font-size="10" text-anchor="middle">{t:g}</text>')
        out.append(f'<text x="{x0 - 6}" y="{ty + 3}" font-size="10" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{y0 + 30}" font-size="11" text-anchor="middle">{xlabel}</text>')
    out.append(f'<text x="{left + 12}" y="{(y0 + y1) / 2}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 {left + 12} {(y0 + y1) / 2})">{ylabel}</text>')
    return out


def reliability_svg(details: dict, title: str = "") -> str:
    """Reliability diagram (left) and selective prediction curve (right) from calibration details."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 20}" '
             f'font-family="sans-serif" role="img">',
             f'<title>{escape(title or "calibration")}</title>',
             f'<text x="{W}" y="14" font-size="12" text-anchor="middle">{escape(title)} reliability '
             f'({details["bins"]} equal-mass bins, n={details["n"]})</text>', '<g transform="translate(0,20)">']
    parts += _axes(0, "confidence", "accuracy")
    a, b = _xy(0, 0, 0), _xy(1, 1, 0)
    parts.append(f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="#aaa" stroke-dasharray="4 3"/>')
    biggest = max((row["n"] for row in details["reliability"]), default=1)
    points = []
    for row in details["reliability"]:
        x, y = _xy(row["confidence"], row["accuracy"], 0)
        gx, gy = _xy(row["confidence"], row["confidence"], 0)
        parts.append(f'<line x1="{x}" y1="{y}" x2="{gx}" y2="{gy}" stroke="#d62728" stroke-width="2"/>')
        r = 2 + 4 * (row["n"] / biggest) ** 0.5
        parts.append(f'<circle cx="{x}" cy="{y}" r="{r:.1f}" fill="#1f77b4"><title>confidence '
                     f'{row["confidence"]:.3f}, accuracy {row["accuracy"]:.3f}, n {row["n"]}</title></circle>')
        points.append(f"{x:.1f},{y:.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#1f77b4"/>')
    parts += _axes(W, "coverage", "accuracy")
    curve = [_xy(row["coverage"], row["accuracy"], W) for row in details["selective"]]
    for row, (x, y) in zip(details["selective"], curve):
        lo, hi = row["ci"]
        parts.append(f'<line x1="{x}" y1="{_xy(0, lo, W)[1]}" x2="{x}" y2="{_xy(0, hi, W)[1]}" stroke="#9ecae1"/>')
    parts.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in curve)}" fill="none" '
                 'stroke="#2ca02c" stroke-width="2"/>')
    parts.append("</g></svg>")
    return "\n".join(parts) + "\n"
