"""Model variants against independent references: scikit-learn's own ccp_alpha fit, torch's pruning
semantics, the Conv1D/Linear identity, and fingerprints that never mix a variant with its base."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evalsuite.errors import UserError
from evalsuite.models.classifiers import SklearnClassifier
from evalsuite.models.factory import load_model
from evalsuite.variants import apply_variant, check_variant, model_size_bytes
from evalsuite.variants.builtin import _conv1d_to_linear, _matrices


@pytest.fixture(scope="module")
def demo_input():
    return torch.tensor([[5, 17, 33, 2, 9, 41]])


def _logits(adapter, ids):
    with torch.inference_mode():
        return adapter.module(ids).logits.float()


def test_conv1d_to_linear_is_exact(demo_input):
    adapter = load_model("demo")
    before = _logits(adapter, demo_input)
    _conv1d_to_linear(adapter.module)
    assert not any(type(layer).__name__ == "Conv1D" for layer in _matrices(adapter.module))
    assert torch.allclose(_logits(adapter, demo_input), before, atol=1e-5)


def test_int8_dynamic_quantizes_every_matrix_and_stays_close(demo_input):
    base = load_model("demo")
    reference = _logits(base, demo_input)
    varied = apply_variant(load_model("demo"), "int8-dynamic")
    kinds = {type(m).__name__ for m in varied.module.modules()}
    assert "Conv1D" not in kinds and any("Linear" in k and k != "Linear" for k in kinds), kinds
    out = _logits(varied, demo_input)
    assert not torch.equal(out, reference)  # it changed something
    # int8 weights: the next-token distribution stays close to the fp32 one
    p, q = torch.softmax(reference, -1), torch.softmax(out, -1)
    assert float((p - q).abs().sum(-1).max()) < 0.5
    assert model_size_bytes(varied) < 0.6 * model_size_bytes(base)


def test_unstructured_pruning_zeroes_the_smallest_share_of_each_matrix():
    base, varied = load_model("demo"), apply_variant(load_model("demo"), "prune:0.3")
    for before, after in zip(_matrices(base.module), _matrices(varied.module)):
        w0, w1 = before.weight.detach(), after.weight.detach()
        zeroed = w1 == 0
        assert abs(zeroed.float().mean().item() - 0.3) < 0.01
        # every pruned weight is no larger in magnitude than every kept one (magnitude pruning)
        assert w0[zeroed].abs().max() <= w0[~zeroed].abs().min() + 1e-12
        assert torch.equal(w1[~zeroed], w0[~zeroed])
    emb0, emb1 = base.module.get_input_embeddings().weight, varied.module.get_input_embeddings().weight
    assert torch.equal(emb0, emb1)  # embeddings (tied to the output layer) untouched


def test_structured_pruning_zeroes_whole_output_rows():
    varied = apply_variant(load_model("demo"), "prune-structured:0.25")
    for layer in _matrices(varied.module):
        w = layer.weight.detach()
        out_axis_rows = w.t() if type(layer).__name__ == "Conv1D" else w  # rows = output units
        dead = (out_axis_rows == 0).all(dim=1)
        assert dead.float().mean().item() == pytest.approx(0.25, abs=1 / out_axis_rows.shape[0])


def test_variant_changes_fingerprint_and_name():
    base = load_model("demo")
    varied = apply_variant(load_model("demo"), "bf16")
    assert varied.fingerprint() != base.fingerprint() and varied.fingerprint()["variant"] == "bf16"
    assert varied.name == "demo+bf16" and next(varied.module.parameters()).dtype == torch.bfloat16
    assert apply_variant(base, "base") is base


def test_ccp_equals_scikit_learns_own_pruned_fit():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=400, n_features=6, random_state=3)
    full = DecisionTreeClassifier(random_state=0).fit(X, y)
    alpha = 0.01
    oracle = DecisionTreeClassifier(random_state=0, ccp_alpha=alpha).fit(X, y)  # pruned while fitting
    adapter = apply_variant(SklearnClassifier(full, name="tree"), f"ccp:{alpha}")
    pruned = adapter.estimator
    assert pruned.tree_.node_count == oracle.tree_.node_count < full.tree_.node_count
    assert np.array_equal(pruned.predict(X), oracle.predict(X))
    assert full.tree_.node_count > pruned.tree_.node_count  # the base estimator is left as it was
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    slim = apply_variant(SklearnClassifier(forest, name="forest"), "ccp:0.02").estimator
    assert all(a.tree_.node_count < b.tree_.node_count for a, b in zip(slim.estimators_, forest.estimators_))


@pytest.mark.parametrize("text, message", [
    ("prune", "needs a share between 0 and 1"), ("prune:1.5", "needs a share"), ("prune:x", "needs a share"),
    ("ccp:-1", "ccp_alpha > 0"), ("bf16:2", "takes no argument"), ("int9", "unknown variant 'int9'"),
    ("", "--variant is empty"),
])
def test_bad_variants_are_one_line_errors(text, message):
    with pytest.raises(UserError, match=message) as info:
        check_variant(text)
    assert "\n" not in str(info.value)


def test_a_variant_for_another_kind_of_model_is_refused():
    from sklearn.tree import DecisionTreeClassifier

    tree = SklearnClassifier(DecisionTreeClassifier().fit([[0], [1]], [0, 1]), name="t")
    with pytest.raises(UserError, match="needs a torch model"):
        apply_variant(tree, "prune:0.3")
    with pytest.raises(UserError, match="needs a scikit-learn decision tree"):
        apply_variant(load_model("demo"), "ccp:0.1")
