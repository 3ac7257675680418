"""Plots as inline SVG written in Python: no network, no plotting library, every label escaped.

Three shapes cover the leaderboard's pages: horizontal bars or dots with
confidence whiskers (category scores, per-group fairness rates) and an x-y
chart with whiskers (the privacy-utility curve).
"""

from __future__ import annotations

import math
from html import escape

WIDTH, ROW, LEFT, RIGHT, TOP = 640, 22, 200, 24, 28
COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568")


def _e(text) -> str:
    return escape(str(text), quote=True)


def _num(x: float) -> str:
    return f"{x:.1f}"


def _axis_range(values: list[float], lo: float, hi: float) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low, high = min([lo, *finite]), max([hi, *finite])
    return (low, high) if high > low else (low - 1, high + 1)


def _ticks(low: float, high: float) -> list[float]:
    """Axis ticks: 0, 0.5 and 1 on a unit-like range, else five even steps; none closer than 8% apart."""
    candidates = [low, 0.0, 0.5, 1.0, high] if high - low <= 1.5 else [low + (high - low) * i / 4 for i in range(5)]
    kept: list[float] = []
    for tick in sorted(candidates):
        if low <= tick <= high and all(abs(tick - k) > 0.08 * (high - low) for k in kept):
            kept.append(tick)
    return kept


def interval_chart(rows: list[tuple[str, float, list | None]], *, title: str, bars: bool = True,
                   x_range: tuple[float, float] = (0.0, 1.0), label: str = "") -> str:
    """One row per (label, value, [lo, hi] or None): a bar (or dot) and a CI whisker."""
    values = [v for _, v, ci in rows for v in ([v] + (list(ci) if ci else []))]
    low, high = _axis_range(values, *x_range)
    plot_w = WIDTH - LEFT - RIGHT
    height = TOP + ROW * len(rows) + 30

    def x(v: float) -> float:
        return LEFT + (v - low) / (high - low) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}"><title>{_e(title)}</title>',
             f'<text x="4" y="16" class="chart-title">{_e(title)}</text>']
    zero = x(0.0) if low <= 0 <= high else x(low)
    for tick in _ticks(low, high):
        if low <= tick <= high:
            parts.append(f'<line x1="{_num(x(tick))}" y1="{TOP - 4}" x2="{_num(x(tick))}" y2="{height - 26}" '
                         f'stroke="#ddd"/><text x="{_num(x(tick))}" y="{height - 12}" text-anchor="middle" '
                         f'class="tick">{tick:.2g}</text>')
    for i, (name, value, ci) in enumerate(rows):
        y = TOP + ROW * i + ROW / 2
        colour = COLOURS[i % len(COLOURS)]
        tip = f"{name}: {value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        parts.append(f'<g><title>{_e(tip)}</title><text x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end" '
                     f'class="label">{_e(name)}</text>')
        if bars:
            left, right = sorted((zero, x(value)))
            parts.append(f'<rect x="{_num(left)}" y="{_num(y - 7)}" width="{_num(max(right - left, 1))}" '
                         f'height="14" fill="{colour}" fill-opacity="0.75"/>')
        else:
            parts.append(f'<circle cx="{_num(x(value))}" cy="{_num(y)}" r="4" fill="{colour}"/>')
        if ci:
            parts.append(f'<line x1="{_num(x(ci[0]))}" y1="{_num(y)}" x2="{_num(x(ci[1]))}" y2="{_num(y)}" '
                         f'stroke="#111" stroke-width="1.5"/>')
            for end in ci:
                parts.append(f'<line x1="{_num(x(end))}" y1="{_num(y - 5)}" x2="{_num(x(end))}" '
                             f'y2="{_num(y + 5)}" stroke="#111" stroke-width="1.5"/>')
        parts.append("</g>")
    if label:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{height - 1}" text-anchor="end" class="tick">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def xy_chart(series: dict[str, list[tuple[float | None, float, list | None]]], *, title: str, x_label: str,
             y_label: str) -> str:
    """Lines of (x, y, [lo, hi]) points per series; x None (e.g. no DP, epsilon infinite) sits at the right edge."""
    height, left, bottom, top = 300, 60, 40, 30
    plot_w, plot_h = WIDTH - left - RIGHT - 40, height - top - bottom
    xs = [p[0] for pts in series.values() for p in pts if p[0] is not None]
    ys = [v for pts in series.values() for p in pts for v in [p[1], *(p[2] or [])]]
    x_low, x_high = _axis_range(xs or [0.0, 1.0], min(xs or [0.0]), max(xs or [1.0]))
    y_low, y_high = _axis_range(ys, min(ys or [0.0]), max(ys or [1.0]))
    has_inf = any(p[0] is None for pts in series.values() for p in pts)

    def px(v: float | None) -> float:
        return left + plot_w + 30 if v is None else left + (v - x_low) / (x_high - x_low) * plot_w

    def py(v: float) -> float:
        return top + plot_h - (v - y_low) / (y_high - y_low) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}"><title>{_e(title)}</title>',
             f'<text x="4" y="16" class="chart-title">{_e(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - RIGHT}" y2="{top + plot_h}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
             f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" class="tick">'
             f'{_e(x_label)}</text>',
             f'<text x="12" y="{top + plot_h / 2:.1f}" transform="rotate(-90 12 {top + plot_h / 2:.1f})" '
             f'text-anchor="middle" class="tick">{_e(y_label)}</text>']
    for tick in (x_low, (x_low + x_high) / 2, x_high):
        parts.append(f'<text x="{_num(px(tick))}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">'
                     f'{tick:.3g}</text>')
    if has_inf:
        parts.append(f'<text x="{_num(px(None))}" y="{top + plot_h + 16}" text-anchor="middle" '
                     'class="tick">no DP</text>')
    for tick in (y_low, (y_low + y_high) / 2, y_high):
        parts.append(f'<text x="{left - 4}" y="{_num(py(tick) + 4)}" text-anchor="end" class="tick">{tick:.3g}</text>')
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        ordered = sorted(points, key=lambda p: math.inf if p[0] is None else p[0])
        path = " ".join(f"{_num(px(p[0]))},{_num(py(p[1]))}" for p in ordered)
        parts.append(f'<g><title>{_e(name)}</title><polyline points="{path}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"/>')
        for xv, yv, ci in ordered:
            tip = f"{name}: epsilon {'none (no DP)' if xv is None else f'{xv:.3g}'} -> {yv:.3f}"
            parts.append(f'<g><title>{_e(tip)}</title><circle cx="{_num(px(xv))}" cy="{_num(py(yv))}" r="4" '
                         f'fill="{colour}"/>')
            if ci:
                parts.append(f'<line x1="{_num(px(xv))}" y1="{_num(py(ci[0]))}" x2="{_num(px(xv))}" '
                             f'y2="{_num(py(ci[1]))}" stroke="{colour}"/>')
            parts.append("</g>")
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{top + 14 * (i + 1)}" text-anchor="end" fill="{colour}" '
                     f'class="tick">{_e(name)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
