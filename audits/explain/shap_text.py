"""SHAP's Partition explainer for text, masking token ids so no credit leaks to neighbours.

shap's Text masker renders a masked string with its default mask "..." and the
model re-tokenizes it: the mask swallows the following space and merges with
neighbouring tokens, so removing one token changes others and their SHAP
values pick up credit that is not theirs. Here the masker works on token ids
(`output_type="token_ids"`): a masked token becomes exactly one baseline token
id (the tokenizer's mask, pad, unk or end-of-text token), `collapse_mask_token`
is off so runs of masked tokens keep the input's length, and the model sees
the same ids the faithfulness metrics perturb.
"""

from __future__ import annotations

import numpy as np

from evalsuite.audits.explain.attribution import AXIOM_SHAP_ADDITIVITY, Attribution
from evalsuite.audits.explain.batching import with_oom_retry
from evalsuite.audits.explain.captum_text import baseline_words
from evalsuite.registry import explainer


class PartitionTextExplainer:
    """shap.Explainer(..., algorithm="partition") over one text's tokens."""

    name = "shap_partition_text"

    def __init__(self, max_evals: int | None = None):
        self.max_evals = max_evals

    def masker(self, objective):
        import shap

        return shap.maskers.Text(objective.tokenizer, mask_token=int(objective.baseline_id),
                                 collapse_mask_token=False, output_type="token_ids")

    def explain_text(self, objective, example) -> Attribution:
        import shap

        from evalsuite.errors import require

        require("shap", "explain")
        start, end = example.text_span
        text = example.meta.get("text")
        if text is None:
            raise ValueError("shap_partition_text needs the example's text in example.meta['text']")
        base = np.asarray(example.ids, dtype=np.int64)

        def model(rows):
            rows = np.asarray([np.asarray(r, dtype=np.int64).reshape(-1) for r in rows])
            if rows.shape[1] != end - start:
                raise RuntimeError(f"SHAP masker gave {rows.shape[1]} tokens, the tokenizer {end - start}")
            full = np.repeat(base[None, :], len(rows), axis=0)
            full[:, start:end] = rows
            return objective.evaluate_ids(example, full)

        masker = self.masker(objective)
        n = len(example.positions)
        max_evals = self.max_evals or max(200, 20 * n)
        shap_explainer = shap.Explainer(model, masker, algorithm="partition")
        values = with_oom_retry(
            lambda size: shap_explainer([text], max_evals=max_evals, batch_size=size, silent=True),
            objective.batch_size(example), what=self.name)
        phi = np.asarray(values.values[0], dtype=float).reshape(-1)
        base_value = float(np.asarray(values.base_values).reshape(-1)[0])
        scores = np.zeros(len(example.ids))
        scores[start:end] = phi
        fixed = sorted(set(range(len(example.ids))) - set(example.positions))
        scores[fixed] = 0.0  # special tokens are never masked, so their SHAP values are 0 already
        f_x, f_base = objective.evaluate_ids(example, np.array([example.ids, objective.baseline_ids(example)]))
        additivity = abs(float(phi.sum()) + base_value - float(f_x))
        return Attribution(example.tokens, scores, list(example.positions), example.target, float(f_x),
                           float(f_base), self.name, AXIOM_SHAP_ADDITIVITY, additivity,
                           {"shap_base_value": base_value}, baseline=baseline_words(objective))


@explainer("shap_partition_text", description="SHAP Partition explainer over token ids (no mask-token leakage)")
def shap_partition_text(max_evals: int | None = None, **_):
    return PartitionTextExplainer(max_evals=max_evals)
