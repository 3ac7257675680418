"""Model variants: what pruning, quantizing or a lighter model does to a model's scores and energy.

A variant is a plugin of kind `variant`: a function of the text after its name
(`prune:0.3` -> "0.3", or None) that checks that argument and returns a transform
from a built adapter to the varied adapter. The model factory applies it right
after building the model, so every task and job sees the variant, and the
variant becomes part of the model's fingerprint and name: the request cache
never mixes a variant's answers with its base's.

    @variant("my-quant", description="...")
    def my_quant(arg: str | None):
        def apply(adapter):
            ...  # change adapter.module (or adapter.estimator) in place
            return adapter
        return apply
"""

from evalsuite.variants.apply import apply_variant, check_variant, model_size_bytes, split_variant

__all__ = ["apply_variant", "check_variant", "model_size_bytes", "split_variant"]
