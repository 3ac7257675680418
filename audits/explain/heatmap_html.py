"""A self-contained HTML page of token heatmaps: inline CSS, no scripts, no network, every token escaped.

Red marks tokens that raise the explained output, blue tokens that lower it;
the colour's strength is the score relative to the largest |score| of that
input. Fixed positions (BOS, special tokens, an LM's continuation) are grey.
An input whose explainer's own axiom check failed (IG not converged within the
step cap, SHAP additivity off) gets a red banner with its gap and steps, a red
dashed frame and hatched tokens, and the page counts such inputs at the top:
its scores are drawn, but never as if they could be trusted.
"""

from __future__ import annotations

import html

from evalsuite.audits.explain.attribution import Attribution

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
h1{font-size:1.3em}.sample{margin:1.2em 0;padding:.6em;border:1px solid #ddd;border-radius:4px}
.meta{font-size:.85em;color:#555;margin-bottom:.4em}.tok{white-space:pre-wrap;padding:1px 0;border-radius:2px;
font-family:ui-monospace,monospace}.fixed{color:#888;background:#eee}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
.untrusted{border:2px dashed #c00}.untrusted .tok{background-image:repeating-linear-gradient(45deg,transparent 0 3px,
rgba(0,0,0,.25) 3px 4px)}.warn{color:#fff;background:#c00;padding:.2em .5em;margin-bottom:.4em;font-weight:bold}
.summary{color:#c00;font-weight:bold}"""


def _colour(score: float, scale: float) -> str:
    alpha = 0.0 if scale <= 0 else min(1.0, abs(score) / scale)
    rgb = "220,40,40" if score > 0 else "40,90,220"
    return f"rgba({rgb},{alpha:.3f})"


def sample_html(attribution: Attribution, title: str = "") -> str:
    positions = set(attribution.positions)
    scale = max((abs(float(attribution.scores[p])) for p in positions), default=0.0)
    spans = []
    for p, token in enumerate(attribution.tokens):
        shown = html.escape(token.replace("\n", "\u21b5\n"), quote=True)
        if p in positions:
            score = float(attribution.scores[p])
            spans.append(f'<span class="tok" style="background-color:{_colour(score, scale)}" '
                         f'title="{score:+.4g}">{shown}</span>')
        else:
            spans.append(f'<span class="tok fixed">{shown}</span>')
    check = ("" if attribution.axiom is None else
             f" &middot; {html.escape(attribution.axiom)} {attribution.axiom_error:.3g}")
    if attribution.steps is not None:
        check += f" &middot; {attribution.steps} steps"
    meta = (f"{html.escape(title)} target <b>{html.escape(str(attribution.target))}</b> &middot; "
            f"f(x) {attribution.output:.4g} &middot; f(baseline) {attribution.baseline_output:.4g}{check}")
    untrusted = attribution.axiom_holds is False
    warn = f'<div class="warn">{html.escape(warning(attribution))}</div>' if untrusted else ""
    return (f'<div class="sample{" untrusted" if untrusted else ""}">{warn}<div class="meta">{meta}</div>'
            f'<div>{"".join(spans)}</div></div>')


def warning(attribution: Attribution) -> str:
    """The banner of an input whose axiom check failed: what failed, by how much, after how much work."""
    what = "NOT CONVERGED" if attribution.axiom == "ig_convergence_delta" else "ADDITIVITY FAILED"
    steps = f" after {attribution.steps} steps" if attribution.steps is not None else ""
    return (f"{what}: {attribution.axiom} {attribution.axiom_error:.3g} is {attribution.relative_gap():.3g} of "
            f"|f(x) - reference| (tolerance {attribution.axiom_tolerance or 0:.3g}){steps}; these scores do not add "
            f"up to the output change and may be far off")


def metrics_table(metrics: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{m['value']:.4g}</td><td>{html.escape(m['direction'])}"
                   f"</td></tr>" for name, m in sorted(metrics.items()))
    return f"<table><tr><th>metric</th><th>mean</th><th>better</th></tr>{rows}</table>"


def page(attributions: list[Attribution], *, title: str, metrics: dict | None = None) -> str:
    body = "".join(sample_html(a, f"#{i}") for i, a in enumerate(attributions))
    table = metrics_table(metrics) if metrics else ""
    failed = [i for i, a in enumerate(attributions) if a.axiom_holds is False]
    if failed:
        table = (f'<p class="summary">{len(failed)} of {len(attributions)} inputs failed their explainer\'s own '
                 f"check (marked below: {', '.join(f'#{i}' for i in failed)}).</p>") + table
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Red raises the explained output, blue lowers it; grey tokens are held fixed.</p>"
            f"{table}{body}</body></html>\n")
