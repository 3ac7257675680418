"""Text explainers on a classifier trained so only one planted token decides the label, and on the demo LM."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from explain_fixtures import PLANTED, planted_sentences
from evalsuite.audits.explain.api import explain_texts, text_objective

TEXT_EXPLAINERS = ["captum_layer_ig", "captum_ig", "captum_feature_ablation", "captum_shapley_sampling",
                   "shap_partition_text"]


@pytest.fixture(scope="module")
def positives():
    return [{"text": t} for t, y in planted_sentences(40, seed=99) if y][:6]


@pytest.mark.parametrize("explainer", TEXT_EXPLAINERS)
def test_top_attribution_lands_on_the_planted_token(planted_classifier, positives, explainer):
    attributions, rows = explain_texts(planted_classifier, positives, explainer=explainer, steps=50, seed=0)
    hits = [a.top_tokens(1)[0][0].strip() == PLANTED for a in attributions]
    assert np.mean(hits) >= 5 / 6, [a.top_tokens(2) for a in attributions]
    assert all(a.target == "planted" for a in attributions)
    # The planted token carries the decision: removing the method's top tokens costs more than a random order.
    assert np.mean([r["comprehensiveness"] for r in rows]) > np.mean([r["random_baseline_comprehensiveness"]
                                                                       for r in rows]) + 0.1
    if explainer == "shap_partition_text":
        assert max(r["shap_additivity_error"] for r in rows) < 1e-5
        # Additivity judged against the tolerance, and the baseline recorded: the mask token, one per token.
        assert all(a.axiom_holds and "'[MASK]'" in a.baseline for a in attributions)


def test_ig_meets_its_tolerance_and_fixed_steps_shrink_the_gap(planted_classifier, positives):
    positives = positives[:3]
    # max_steps == steps: one fixed rule, no refinement (captum's behaviour); more steps, smaller gap.
    coarse, _ = explain_texts(planted_classifier, positives, explainer="captum_layer_ig", steps=20, max_steps=20,
                              measure=False)
    fine, _ = explain_texts(planted_classifier, positives, explainer="captum_layer_ig", steps=200, max_steps=200,
                            measure=False)
    assert np.mean([a.axiom_error for a in fine]) < np.mean([a.axiom_error for a in coarse])
    assert all(a.steps == 20 for a in coarse) and all(a.axiom_holds == (a.relative_gap() <= 1e-3) for a in coarse)
    # The default refines each input until |sum(attr) - (f(x) - f(x'))| <= 1e-3 |f(x) - f(x')|.
    adaptive, _ = explain_texts(planted_classifier, positives, explainer="captum_layer_ig", measure=False)
    assert all(a.axiom_holds and a.relative_gap() <= 1e-3 and a.steps >= 50 for a in adaptive)
    # IG over input embeddings and LayerIG over the embedding layer integrate the same path.
    plain, _ = explain_texts(planted_classifier, positives[:2], explainer="captum_ig", measure=False)
    for a, b in zip(plain, adaptive):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


class OneTokenModel:
    """A classifier whose logit counts one token id: every other token is irrelevant by construction."""

    def __new__(cls, vocab_size: int, token_id: int):
        import torch

        class Module(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(vocab_size, 1)
                with torch.no_grad():
                    self.emb.weight.zero_()
                    self.emb.weight[token_id] = 1.0

            def get_input_embeddings(self):
                return self.emb

            def forward(self, input_ids=None, inputs_embeds=None):
                e = self.emb(input_ids) if inputs_embeds is None else inputs_embeds
                s = e.sum(dim=(1, 2))
                return SimpleNamespace(logits=torch.stack([torch.zeros_like(s), 4 * s - 2], dim=-1))

        return Module()


def test_shap_text_masking_leaks_no_credit_to_neighbours(planted_classifier):
    tokenizer = planted_classifier.tokenizer
    module = OneTokenModel(len(tokenizer), tokenizer.convert_tokens_to_ids(PLANTED))
    model = SimpleNamespace(name="one-token", module=module, tokenizer=tokenizer, labels=["other", "planted"],
                            classify=None, device=None)
    text = f"the old cat {PLANTED} sees a quiet river"
    attributions, _ = explain_texts(model, [{"text": text, "label": "planted"}], explainer="shap_partition_text",
                                    measure=False)
    a = attributions[0]
    at = a.tokens.index(PLANTED)
    others = [p for p in a.positions if p != at]
    assert np.abs(a.scores[others]).max() < 1e-9  # the neighbours at at-1 and at+1 included
    assert abs(a.scores[at] - (a.output - a.baseline_output)) < 1e-6


def test_injected_out_of_memory_is_retried_with_identical_results(planted_classifier, positives, monkeypatch):
    objective = text_objective(planted_classifier)
    example = objective.classifier_example(positives[0]["text"])
    rows = np.array([example.ids] * 9)
    expected = objective.evaluate_ids(example, rows)
    original, sizes = objective.forward_ids, []

    def forward_ids(ids, ex):
        sizes.append(len(ids))
        if len(ids) > 2:
            raise RuntimeError("CUDA out of memory (injected)")
        return original(ids, ex)

    monkeypatch.setattr(objective, "forward_ids", forward_ids)
    np.testing.assert_allclose(objective.evaluate_ids(example, rows), expected, atol=1e-6)
    assert max(s for s in sizes[1:] if s) <= 9 and sizes[-1] <= 2


FACT = ("Q: In which city does Porel Prantett live?\nA:", " Lunport")


def test_demo_lm_layer_ig_converges_and_skips_bos(demo_lm):
    attributions, rows = explain_texts(demo_lm, [{"context": FACT[0], "continuation": FACT[1]}],
                                       explainer="captum_layer_ig", steps=50)
    a = attributions[0]
    assert a.tokens[0] == demo_lm.tokenizer.decode([demo_lm.tokenizer.bos_token_id]) and 0 not in a.positions
    assert a.scores[0] == 0 and a.scores[-1] == 0  # BOS and the continuation are held fixed
    assert a.axiom_error < 0.01 * abs(a.output - a.baseline_output)
    assert rows[0]["comprehensiveness"] > rows[0]["random_baseline_comprehensiveness"]


def test_feature_ablation_equals_captums_llm_attribution(demo_lm):
    from captum.attr import FeatureAblation, LLMAttribution, TextTokenInput

    tok = demo_lm.tokenizer
    attributions, _ = explain_texts(demo_lm, [{"context": FACT[0], "continuation": FACT[1]}],
                                    explainer="captum_feature_ablation", measure=False)
    ours = attributions[0]
    objective = text_objective(demo_lm)
    reference = LLMAttribution(FeatureAblation(demo_lm.module), tok)
    prompt = tok.decode([tok.bos_token_id]) + FACT[0]
    inp = TextTokenInput(prompt, tok, baselines=objective.baseline_id, skip_tokens=[tok.bos_token_id])
    result = reference.attribute(inp, target=FACT[1], forward_in_tokens=False)
    np.testing.assert_allclose(ours.attributable_scores(), result.seq_attr.cpu().numpy(), atol=1e-4)
