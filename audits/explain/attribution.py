"""The one result type every explainer returns, and how explainers are looked up.

An `Attribution` holds one input's tokens (or feature names) with a score per
token, the output that was explained (`output`, f(x)) and the output at the
baseline (`baseline_output`, f(x')), plus the explainer's own axiom check:
Integrated Gradients' convergence delta or SHAP's additivity error. Only the
positions in `positions` can carry credit (special tokens, BOS and an LM's
continuation are fixed and score 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Explainers that are gradient path integrals report a convergence delta; SHAP ones an additivity error.
AXIOM_IG_DELTA, AXIOM_SHAP_ADDITIVITY = "ig_convergence_delta", "shap_additivity_error"


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
                "axiom_error": None if self.axiom_error is None else float(self.axiom_error), **self.extra}


def get_explainer(name: str, kind: str, **options):
    """Build the registered explainer `name` for `kind` ("text" or "tabular"), or a one-line UserError.

    An explainer explains the kinds it has a method for (`explain_text(objective, example)`,
    `explain_tabular(objective, X)`), so a third-party explainer plugs in like evalsuite's own.
    """
    from evalsuite.errors import UserError
    from evalsuite.registry import REGISTRY

    built = REGISTRY.get("explainer", name).obj(**options)
    if not callable(getattr(built, f"explain_{kind}", None)):
        usable = [e.short_name for e in REGISTRY.entries("explainer")
                  if callable(getattr(e.obj(), f"explain_{kind}", None))]
        raise UserError(f"explainer '{name}' does not explain {kind} inputs; use one of: {', '.join(usable)}")
    return built
