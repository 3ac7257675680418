"""Resolving a `--variant` text to its plugin, applying it to an adapter, and a model's size."""

from __future__ import annotations

import io
import pickle

from evalsuite.errors import UserError

BASE = "base"  # the unchanged model, as `compare --variants base,...` names it


def split_variant(text: str) -> tuple[str, str | None]:
    name, sep, arg = text.strip().partition(":")
    return name, (arg if sep else None)


def check_variant(text: str):
    """The transform `text` names (its argument checked); raises UserError naming the known variants."""
    from evalsuite.registry import REGISTRY

    name, arg = split_variant(text)
    if not name:
        raise UserError("--variant is empty; name a variant (see: evalsuite list variants)")
    entry = REGISTRY.get("variant", name)
    return entry.obj(arg)


def apply_variant(adapter, text: str | None):
    """`adapter` with variant `text` applied (None or 'base': unchanged); name and fingerprint say which."""
    if text is None or text == BASE:
        return adapter
    transform = check_variant(text)
    base_fingerprint = adapter.fingerprint()
    varied = transform(adapter)
    fingerprint = {**base_fingerprint, "variant": text}
    varied.fingerprint = lambda: fingerprint  # the cache key: never the base's answers for the variant
    varied.name = f"{adapter.name}+{text}"
    varied.variant = text
    return varied


def model_size_bytes(adapter) -> int | None:
    """Bytes of the model's weights as they would be saved (a torch state dict or a pickled estimator)."""
    module = getattr(adapter, "module", None)
    if module is not None:
        import torch

        buffer = io.BytesIO()
        torch.save(module.state_dict(), buffer)
        return buffer.tell()
    estimator = getattr(adapter, "estimator", None)
    if estimator is not None:
        return len(pickle.dumps(estimator))
    return None
