"""The one result type every explainer returns, and how explainers are looked up.

An `Attribution` holds one input's tokens (or feature names) with a score per
token, the output that was explained (`output`, f(x)) and the output at the
baseline (`baseline_output`, f(x')), plus the explainer's own axiom check:
Integrated Gradients' convergence delta or SHAP's additivity error, and
whether that check holds within tolerance (`axiom_holds`; `check_axiom` sets it
for explainers that do not decide it themselves). Only the positions in
`positions` can carry credit (special tokens, BOS and an LM's continuation are
fixed and score 0). `baseline` says in words what "absent" meant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Explainers that are gradient path integrals report a convergence delta; SHAP ones an additivity error.
AXIOM_IG_DELTA, AXIOM_SHAP_ADDITIVITY = "ig_convergence_delta", "shap_additivity_error"
SCALE_FLOOR = 1e-6  # below this |f(x) - f(x')| a relative tolerance becomes absolute


@dataclass
class Attribution:
    """Per-token (or per-feature) credit for one input's explained output."""

    tokens: list[str]
    scores: np.ndarray  # one score per token, 0 where the position is fixed
    positions: list[int]  # the positions that can carry credit (the ones faithfulness perturbs)
    target: str  # the label or continuation whose output is explained
    output: float  # f(x)
    baseline_output: float  # f(x') with every attributable position at the baseline
    method: str
    axiom: str | None = None  # AXIOM_IG_DELTA or AXIOM_SHAP_ADDITIVITY
    axiom_error: float | None = None  # |delta| or |sum(phi) + base - f(x)|
    extra: dict = field(default_factory=dict)
    axiom_holds: bool | None = None  # axiom_error <= tolerance (None: no axiom, or not checked yet)
    axiom_tolerance: float | None = None  # the absolute tolerance axiom_error was held to
    steps: int | None = None  # gradient evaluations used (path methods)
    baseline: str = ""  # what stood for an absent token or feature

    def axiom_scale(self) -> float:
        """|f(x) - f(x')| for IG, |f(x) - E[f]| for SHAP: what a relative gap is relative to (floored)."""
        reference = self.extra.get("shap_base_value", self.baseline_output)
        return max(abs(float(self.output) - float(reference)), SCALE_FLOOR)

    def relative_gap(self) -> float | None:
        return None if self.axiom_error is None else float(self.axiom_error) / self.axiom_scale()

    def attributable_scores(self) -> np.ndarray:
        return np.asarray(self.scores, dtype=float)[self.positions]

    def top_tokens(self, k: int = 3) -> list[tuple[str, float]]:
        order = sorted(self.positions, key=lambda p: -float(self.scores[p]))[:k]
        return [(self.tokens[p], float(self.scores[p])) for p in order]

    def to_json(self) -> dict:
        return {"tokens": list(self.tokens), "scores": [float(s) for s in self.scores],
                "attributable": [p in set(self.positions) for p in range(len(self.tokens))],
                "target": self.target, "output": float(self.output), "baseline_output": float(self.baseline_output),
                "method": self.method, "axiom": self.axiom,
                "axiom_error": None if self.axiom_error is None else float(self.axiom_error),
                "axiom_holds": self.axiom_holds, "axiom_tolerance": self.axiom_tolerance,
                "relative_gap": self.relative_gap(), "steps": self.steps, "baseline": self.baseline, **self.extra}


def check_axiom(attribution: Attribution, tol: float) -> Attribution:
    """Set `axiom_holds` from the relative tolerance `tol` where the explainer did not decide it itself."""
    if attribution.axiom is not None and attribution.axiom_holds is None:
        attribution.axiom_tolerance = tol * attribution.axiom_scale()
        attribution.axiom_holds = bool(float(attribution.axiom_error) <= attribution.axiom_tolerance)
    return attribution


def _accepted(factory, options: dict) -> dict:
    """The options a factory declares (all of them if it takes **kwargs): a plugin written before an
    option existed keeps working."""
    import inspect

    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return options
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return options
    names = {p.name for p in params}
    return {k: v for k, v in options.items() if k in names}


def get_explainer(name: str, kind: str, **options):
    """Build the registered explainer `name` for `kind` ("text" or "tabular"), or a one-line UserError.

    An explainer explains the kinds it has a method for (`explain_text(objective, example)`,
    `explain_tabular(objective, X)`), so a third-party explainer plugs in like evalsuite's own.
    """
    from evalsuite.errors import UserError
    from evalsuite.registry import REGISTRY

    factory = REGISTRY.get("explainer", name).obj
    built = factory(**_accepted(factory, options))
    if not callable(getattr(built, f"explain_{kind}", None)):
        usable = [e.short_name for e in REGISTRY.entries("explainer")
                  if callable(getattr(e.obj(), f"explain_{kind}", None))]
        raise UserError(f"explainer '{name}' does not explain {kind} inputs; use one of: {', '.join(usable)}")
    return built
