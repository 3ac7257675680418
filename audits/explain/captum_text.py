"""Captum explainers: Integrated Gradients (on input embeddings or the embedding layer), feature ablation
and Shapley value sampling, for text classifiers, language-model continuations and torch tabular models.

Integrated Gradients refines its path per input until completeness holds within `tol`
(or `max_steps` is spent, and the input is marked): see `path_integral`.
Every method batches its internal evaluations (interpolation steps, ablations)
by the objective's token budget and retries a batch that runs out of memory
at half the size. For language models the explained output is the summed
log-probability of the continuation, with BOS and the continuation itself
held fixed, which is what captum's `LLMAttribution` computes with
`forward_in_tokens=False`; evaluating it here lets perturbations share one
batched forward instead of one forward each (tests check both agree).
"""

from __future__ import annotations

import numpy as np

from evalsuite.audits.explain.attribution import AXIOM_IG_DELTA, Attribution
from evalsuite.audits.explain.batching import batch_size_for, with_oom_retry
from evalsuite.audits.explain.path_integral import (DEFAULT_MAX_STEPS, DEFAULT_TOL, check_budget, integrate,
                                                      path_functions)
from evalsuite.registry import explainer


def baseline_words(objective) -> str:
    token = objective.tokenizer.convert_ids_to_tokens(int(objective.baseline_id))
    return f"token {token!r} (id {objective.baseline_id}) at every attributable position"


def _finish(example, objective, scores_at_positions, method, axiom=None, axiom_error=None, outputs=None,
            **fields) -> Attribution:
    scores = np.zeros(len(example.ids))
    scores[example.positions] = np.asarray(scores_at_positions, dtype=float)
    if outputs is None:
        outputs = objective.evaluate_ids(example, np.array([example.ids, objective.baseline_ids(example)]))
    f_x, f_base = outputs
    return Attribution(example.tokens, scores, list(example.positions), example.target, float(f_x), float(f_base),
                       method, axiom, axiom_error, baseline=baseline_words(objective), **fields)


def _ig_fields(result, tol: float) -> dict:
    return {"axiom_holds": result.converged, "axiom_tolerance": result.tolerance, "steps": result.steps,
            "extra": {"ig_segments": result.segments, "ig_tolerance": tol}}


class IntegratedGradientsExplainer:
    """Integrated Gradients from the all-baseline-token input to the input, refined per input until
    completeness holds (`path_integral`); `layer=True` integrates over the embedding layer's output
    (LayerIntegratedGradients: a hook replaces the layer's output with points on the path, as captum's
    does), otherwise over input embeddings fed to the model. Both are the same path for HF models."""

    def __init__(self, steps: int = 50, layer: bool = False, method: str = "gausslegendre",
                 tol: float = DEFAULT_TOL, max_steps: int = DEFAULT_MAX_STEPS):
        self.steps, self.layer, self.method = int(steps), layer, method
        check_budget(int(steps), int(max_steps), float(tol))
        self.tol, self.max_steps = float(tol), int(max_steps)
        self.name = "captum_layer_ig" if layer else "captum_ig"

    def _integrate(self, forward, start, end, batch_size: int, reduce_last: bool):
        integrand, values = path_functions(forward, start, end, batch_size=batch_size, reduce_last=reduce_last,
                                           what=self.name)
        return integrate(integrand, values, steps=self.steps, tol=self.tol, max_steps=self.max_steps,
                         method=self.method)

    def explain_text(self, objective, example) -> Attribution:
        import torch

        ids = torch.tensor([example.ids], device=objective.device)
        layer = objective.embedding_layer
        with torch.no_grad():
            start, end = objective.embed(objective.baseline_ids(example)), objective.embed(example.ids)
        if self.layer:
            def forward(points):
                handle = layer.register_forward_hook(lambda module, inputs, output: points)
                try:
                    return objective.forward_ids(ids.expand(len(points), -1), example)
                finally:
                    handle.remove()
        else:
            def forward(points):
                return objective.forward_embeds(points, example)

        result = self._integrate(forward, start, end, objective.batch_size(example), reduce_last=True)
        per_token = result.attributions.reshape(-1)
        return _finish(example, objective, per_token[example.positions], self.name, AXIOM_IG_DELTA, result.gap,
                       outputs=(result.f_end, result.f_start), **_ig_fields(result, self.tol))

    def explain_tabular(self, objective, X: np.ndarray) -> list[Attribution]:
        """IG for a differentiable tabular model (objective.torch_forward), baseline = background mean."""
        import torch

        from evalsuite.errors import UserError

        if self.layer or getattr(objective, "torch_forward", None) is None:
            raise UserError(f"{self.name} explains tabular inputs of torch models only; use shap_kernel, "
                            "shap_linear or shap_tree for other estimators")
        dtype = getattr(objective, "torch_dtype", torch.float32)
        x = torch.as_tensor(np.asarray(X, dtype=float), dtype=dtype)
        base = torch.as_tensor(objective.baseline, dtype=dtype).reshape(1, -1)
        batch = batch_size_for(x.shape[1], 1 << 20)
        out = []
        for i in range(len(x)):
            result = self._integrate(objective.torch_forward, base, x[i:i + 1], batch, reduce_last=False)
            out.append(Attribution(objective.feature_names, result.attributions.reshape(-1), list(range(x.shape[1])),
                                   objective.target, result.f_end, result.f_start, self.name, AXIOM_IG_DELTA,
                                   result.gap, baseline=f"background mean of {len(objective.background)} rows",
                                   **_ig_fields(result, self.tol)))
        return out


class PerturbationExplainer:
    """Captum FeatureAblation (one token at a time to the baseline token) or ShapleyValueSampling."""

    def __init__(self, shapley: bool = False, samples: int = 25, seed: int = 0):
        self.shapley, self.samples, self.seed = shapley, int(samples), seed
        self.name = "captum_shapley_sampling" if shapley else "captum_feature_ablation"

    def explain_text(self, objective, example) -> Attribution:
        import torch
        from captum.attr import FeatureAblation, ShapleyValueSampling

        full = torch.tensor([example.ids], device=objective.device)
        positions = torch.tensor(example.positions, device=objective.device)

        def forward(sub):  # the attributable ids -> full rows -> f
            rows = full.expand(sub.shape[0], -1).clone()
            rows[:, positions] = sub
            return objective.forward_ids(rows, example)

        inputs = full[:, positions]
        algo = ShapleyValueSampling(forward) if self.shapley else FeatureAblation(forward)
        kwargs = {"n_samples": self.samples} if self.shapley else {}
        torch.manual_seed(self.seed)  # Shapley sampling draws permutations from torch's generator

        def run(size: int):
            with torch.no_grad():
                return algo.attribute(inputs, baselines=objective.baseline_id, perturbations_per_eval=size, **kwargs)

        attr = with_oom_retry(run, objective.batch_size(example), what=self.name)
        return _finish(example, objective, attr[0].float().cpu().numpy(), self.name)


@explainer("captum_ig", description="Integrated Gradients over input embeddings (text) or features (torch), "
           "refined until complete")
def captum_ig(steps: int = 50, tol: float = DEFAULT_TOL, max_steps: int = DEFAULT_MAX_STEPS, **_):
    return IntegratedGradientsExplainer(steps=steps, layer=False, tol=tol, max_steps=max_steps)


@explainer("captum_layer_ig", description="LayerIntegratedGradients over the embedding layer, refined until complete")
def captum_layer_ig(steps: int = 50, tol: float = DEFAULT_TOL, max_steps: int = DEFAULT_MAX_STEPS, **_):
    return IntegratedGradientsExplainer(steps=steps, layer=True, tol=tol, max_steps=max_steps)


@explainer("captum_feature_ablation", description="Captum FeatureAblation: each token set to the baseline token")
def captum_feature_ablation(**_):
    return PerturbationExplainer(shapley=False)


@explainer("captum_shapley_sampling", description="Captum ShapleyValueSampling over tokens")
def captum_shapley_sampling(samples: int = 25, seed: int = 0, **_):
    return PerturbationExplainer(shapley=True, samples=samples, seed=seed)
