"""Captum explainers: Integrated Gradients (on input embeddings or the embedding layer), feature ablation
and Shapley value sampling, for text classifiers, language-model continuations and torch tabular models.

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
from evalsuite.registry import explainer


def _finish(example, objective, scores_at_positions, method, axiom=None, axiom_error=None) -> Attribution:
    scores = np.zeros(len(example.ids))
    scores[example.positions] = np.asarray(scores_at_positions, dtype=float)
    f_x, f_base = objective.evaluate_ids(example, np.array([example.ids, objective.baseline_ids(example)]))
    return Attribution(example.tokens, scores, list(example.positions), example.target, float(f_x), float(f_base),
                       method, axiom, axiom_error)


class IntegratedGradientsExplainer:
    """Integrated Gradients from the all-baseline-token input to the input; `layer=True` integrates over the
    embedding layer's output (LayerIntegratedGradients), otherwise over input embeddings fed to the model."""

    def __init__(self, steps: int = 50, layer: bool = False, method: str = "gausslegendre"):
        self.steps, self.layer, self.method = int(steps), layer, method
        self.name = "captum_layer_ig" if layer else "captum_ig"

    def explain_text(self, objective, example) -> Attribution:
        import torch
        from captum.attr import IntegratedGradients, LayerIntegratedGradients

        ids = torch.tensor([example.ids], device=objective.device)
        ref = torch.tensor([objective.baseline_ids(example)], device=objective.device)
        if self.layer:
            algo = LayerIntegratedGradients(lambda x: objective.forward_ids(x, example), objective.embedding_layer)
            inputs, baselines = ids, ref
        else:
            algo = IntegratedGradients(lambda e: objective.forward_embeds(e, example))
            with torch.no_grad():
                inputs, baselines = objective.embed(example.ids), objective.embed(ref[0])

        def run(size: int):
            return algo.attribute(inputs, baselines=baselines, n_steps=self.steps, method=self.method,
                                  internal_batch_size=size, return_convergence_delta=True)

        attr, delta = with_oom_retry(run, objective.batch_size(example), what=self.name)
        per_token = attr.detach().float().sum(-1)[0].cpu().numpy()
        return _finish(example, objective, per_token[example.positions], self.name, AXIOM_IG_DELTA,
                       abs(float(delta.reshape(-1)[0])))

    def explain_tabular(self, objective, X: np.ndarray) -> list[Attribution]:
        """IG for a differentiable tabular model (objective.torch_forward), baseline = background mean."""
        import torch
        from captum.attr import IntegratedGradients

        from evalsuite.errors import UserError

        if self.layer or getattr(objective, "torch_forward", None) is None:
            raise UserError(f"{self.name} explains tabular inputs of torch models only; use shap_kernel, "
                            "shap_linear or shap_tree for other estimators")
        forward = objective.torch_forward
        dtype = getattr(objective, "torch_dtype", torch.float32)
        x = torch.as_tensor(np.asarray(X, dtype=float), dtype=dtype)
        base = torch.as_tensor(objective.baseline, dtype=dtype).expand_as(x).contiguous()
        algo = IntegratedGradients(forward)
        attr, delta = with_oom_retry(
            lambda size: algo.attribute(x, baselines=base, n_steps=self.steps, method=self.method,
                                        internal_batch_size=size, return_convergence_delta=True),
            batch_size_for(x.shape[1] * max(1, len(x)), 1 << 20), what=self.name)
        with torch.no_grad():
            f_x, f_base = forward(x).reshape(-1), forward(base).reshape(-1)
        return [Attribution(objective.feature_names, attr[i].detach().double().numpy(), list(range(x.shape[1])),
                            objective.target, float(f_x[i]), float(f_base[i]), self.name, AXIOM_IG_DELTA,
                            abs(float(delta[i]))) for i in range(len(x))]


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


@explainer("captum_ig", description="Captum IntegratedGradients over input embeddings (text) or features (torch)")
def captum_ig(steps: int = 50, **_):
    return IntegratedGradientsExplainer(steps=steps, layer=False)


@explainer("captum_layer_ig", description="Captum LayerIntegratedGradients over the embedding layer")
def captum_layer_ig(steps: int = 50, **_):
    return IntegratedGradientsExplainer(steps=steps, layer=True)


@explainer("captum_feature_ablation", description="Captum FeatureAblation: each token set to the baseline token")
def captum_feature_ablation(**_):
    return PerturbationExplainer(shapley=False)


@explainer("captum_shapley_sampling", description="Captum ShapleyValueSampling over tokens")
def captum_shapley_sampling(samples: int = 25, seed: int = 0, **_):
    return PerturbationExplainer(shapley=True, samples=samples, seed=seed)
