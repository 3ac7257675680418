"""evalsuite's own variants: quantization, lower precision, pruning, lighter trees.

- `int8-dynamic`: torch's dynamic quantization of every Linear layer to int8 (weights
  int8, activations quantized on the fly; CPU kernels). GPT-2's `Conv1D` layers are
  turned into the equivalent `Linear` first, so they are quantized too.
- `bf16`, `fp16`: the weights cast to that precision.
- `prune:AMOUNT`: unstructured magnitude pruning of that share of each weight matrix (the
  mask torch.nn.utils.prune's L1Unstructured computes, applied in place). The zeros are stored densely: on dense kernels
  this saves no time, no memory and no energy, only accuracy is lost; it shows what a
  sparse kernel could later save.
- `prune-structured:AMOUNT`: that share of each matrix's output rows (smallest L2 norm)
  zeroed (torch's LnStructured mask, n=2). The shapes stay, so this too saves nothing on dense kernels.
- `torchao-int8`: torchao's weight-only int8 quantization, where torchao is installed.
- `ccp:ALPHA`: a scikit-learn tree (or each tree of a forest) pruned by minimal
  cost-complexity pruning at `ccp_alpha=ALPHA`, from the impurities and sample weights
  the fitted tree holds (the pruning scikit-learn applies when fitting with ccp_alpha).

Embeddings and the output layer tied to them are never pruned: they are lookups, not
matrix products, and pruning a tied output layer would prune the embeddings too.
"""

from __future__ import annotations

import copy
import warnings

from evalsuite.errors import UserError
from evalsuite.registry import variant


def _amount(name: str, arg: str | None) -> float:
    try:
        value = float(arg) if arg is not None else None
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise UserError(f"variant {name}:{arg if arg is not None else ''} needs a share between 0 and 1, "
                        f"e.g. {name}:0.3")
    return value


def _no_argument(name: str, arg: str | None) -> None:
    if arg is not None:
        raise UserError(f"variant {name} takes no argument; write --variant {name}")


def _torch_module(adapter, name: str):
    module = getattr(adapter, "module", None)
    if module is None:
        raise UserError(f"variant {name} needs a torch model; adapter '{adapter.name}' has none "
                        "(use ccp:ALPHA for scikit-learn trees)")
    return module


def _kind(layer) -> str:
    return getattr(layer, "original_name", None) or type(layer).__name__  # TorchScript keeps the Python name


def _matrices(module) -> list:
    """Every Linear/Conv1D layer (the module itself included) except the output layer tied to the embeddings.

    TorchScript modules are included (their layers keep their Python class name)."""
    output = module.get_output_embeddings() if hasattr(module, "get_output_embeddings") else None
    return [layer for layer in module.modules()
            if _kind(layer) in ("Linear", "Conv1D") and layer is not output and hasattr(layer, "weight")]


def _masked(layer, method) -> None:
    """Zero the weights torch.nn.utils.prune's `method` selects, in place (works on TorchScript layers too)."""
    import torch

    with torch.no_grad():
        weight = layer.weight
        weight.mul_(method.compute_mask(weight, torch.ones_like(weight)).to(weight.dtype))


def _conv1d_to_linear(module) -> None:
    """Replace transformers' Conv1D (y = x W + b, W of shape in x out) by the equal nn.Linear."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for parent in list(module.modules()):
        for attr, child in list(parent.named_children()):
            if not isinstance(child, Conv1D):
                continue
            linear = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1], bias=child.bias is not None)
            with torch.no_grad():
                linear.weight.copy_(child.weight.t())
                if child.bias is not None:
                    linear.bias.copy_(child.bias)
            setattr(parent, attr, linear.to(child.weight.device))


@variant("int8-dynamic", description="torch dynamic int8 quantization of Linear layers (CPU)")
def int8_dynamic(arg: str | None = None):
    _no_argument("int8-dynamic", arg)

    def apply(adapter):
        import torch

        module = _torch_module(adapter, "int8-dynamic")
        if isinstance(module, torch.jit.ScriptModule):
            raise UserError("variant int8-dynamic needs an eager torch module, not TorchScript; load the model with "
                            "torch.save'd weights (allow_pickle=true) or use prune:AMOUNT")
        if next(module.parameters()).device.type != "cpu":
            raise UserError("variant int8-dynamic runs on CPU kernels only; add --device cpu "
                            "(or use torchao-int8 on a GPU)")
        _conv1d_to_linear(module)
        with warnings.catch_warnings():  # torch marks eager quantization deprecated in favour of torchao
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        adapter.model = quantized
        return adapter

    return apply


def _cast(dtype_name: str):
    def factory(arg: str | None = None):
        _no_argument(dtype_name, arg)

        def apply(adapter):
            import torch

            module = _torch_module(adapter, dtype_name)
            adapter.model = module.to({"bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name])
            adapter.dtype = {"bf16": "bfloat16", "fp16": "float16"}[dtype_name]
            return adapter

        return apply

    return factory


bf16 = variant("bf16", description="weights in bfloat16")(_cast("bf16"))
fp16 = variant("fp16", description="weights in float16")(_cast("fp16"))


@variant("prune", description="unstructured magnitude pruning of a share of each weight (prune:0.3)")
def prune(arg: str | None = None):
    amount = _amount("prune", arg)

    def apply(adapter):
        import torch.nn.utils.prune as tp

        for layer in _matrices(_torch_module(adapter, "prune")):
            _masked(layer, tp.L1Unstructured(amount))
        return adapter

    return apply


@variant("prune-structured", description="zero a share of each weight's output rows by L2 norm "
         "(prune-structured:0.3)")
def prune_structured(arg: str | None = None):
    amount = _amount("prune-structured", arg)

    def apply(adapter):
        import torch.nn.utils.prune as tp

        for layer in _matrices(_torch_module(adapter, "prune-structured")):
            dim = 1 if _kind(layer) == "Conv1D" else 0  # the output axis: Conv1D stores in x out
            _masked(layer, tp.LnStructured(amount, n=2, dim=dim))
        return adapter

    return apply


@variant("torchao-int8", description="torchao weight-only int8 quantization (needs torchao)")
def torchao_int8(arg: str | None = None):
    _no_argument("torchao-int8", arg)
    try:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError as exc:
        raise UserError("variant torchao-int8 needs torchao; install it with: pip install torchao") from exc

    def apply(adapter):
        module = _torch_module(adapter, "torchao-int8")
        _conv1d_to_linear(module)
        quantize_(module, Int8WeightOnlyConfig())
        return adapter

    return apply


@variant("ccp", description="cost-complexity pruning of scikit-learn trees and forests (ccp:0.01)")
def ccp(arg: str | None = None):
    try:
        alpha = float(arg) if arg is not None else None
    except ValueError:
        alpha = None
    if alpha is None or alpha <= 0:
        raise UserError(f"variant ccp:{arg or ''} needs ccp_alpha > 0, e.g. ccp:0.01")

    def apply(adapter):
        estimator = getattr(adapter, "estimator", None)
        trees = _trees(estimator)
        if not trees:
            raise UserError(f"variant ccp needs a scikit-learn decision tree or forest; '{adapter.name}' is "
                            f"{type(estimator).__name__ if estimator is not None else 'not a scikit-learn model'}")
        pruned = copy.deepcopy(estimator)
        for tree in _trees(pruned):
            tree.ccp_alpha = alpha
            tree._prune_tree()  # scikit-learn's own pruning pass, from the fitted tree's impurities and weights
        adapter.estimator = pruned
        return adapter

    return apply


def _trees(estimator) -> list:
    from sklearn.tree import BaseDecisionTree

    if isinstance(estimator, BaseDecisionTree):
        return [estimator]
    members = getattr(estimator, "estimators_", None)
    if members is not None and all(isinstance(t, BaseDecisionTree) for t in members):
        return list(members)
    return []
