"""The key/value cache through transformers' cache API (no legacy tuples).

transformers 5 renamed the forward argument and output field `past_key_values` to
`cache` (the old name warns and will go); older releases only know the old name.
The engine asks the model which one its forward takes, builds a `DynamicCache`
itself (so it always holds a `Cache` object it can `crop`), and reads the cache
back from the output by field name, never through the deprecated property.
"""

from __future__ import annotations

import inspect


def cache_argument(model) -> str:
    """The keyword the model's forward takes its cache by: "cache" (transformers 5) or "past_key_values".

    Read from the model class, so a forward wrapped on the instance (hooks, test doubles) does not hide it."""
    params = inspect.signature(getattr(type(model), "forward", model.forward)).parameters
    return "cache" if "cache" in params else "past_key_values"


def new_cache(model):
    """An empty DynamicCache laid out for the model (sliding-window layers where its config has them)."""
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.config)
    except TypeError:  # releases before the config argument
        return DynamicCache()


def output_cache(out, given):
    """The cache a forward returned (by field name, so no deprecated property is touched); `given` if none."""
    for key in ("cache", "past_key_values"):
        if key in out and out[key] is not None:
            return out[key]
    return given


def crop_to(cache, length: int) -> None:
    """Drop every cached position after the first `length` (what a later pass appended)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)
