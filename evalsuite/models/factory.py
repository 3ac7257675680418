"""The model factory: the only place a model adapter is built.

A `ModelSpec` is resolved once per run from what the user gave (`--model`, the
run-wide flags `--device/--dtype/--token-budget/--max-length/--trust-remote-code`,
and `--model-args`): which registered adapter, which target, and the typed values
of the options that adapter declares. Every problem with them (an unknown or badly
typed option, a flag the adapter does not take, a device this machine lacks) is
one error raised before anything is loaded or written. The runner builds the
adapter from the spec and hands it to every task and job; a job that needs a
second model (a reference model, a fine-tuned checkpoint) builds it here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.errors import UserError, suggest
from evalsuite.options import bind, declared_options
from evalsuite.registry import REGISTRY

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class ModelSpec:
    """A model to build: the adapter (registry name), its target and its typed options."""

    source: str  # as the user gave it
    adapter: str  # e.g. "evalsuite/hf"
    target: str  # the adapter's path/id/file
    options: dict = field(default_factory=dict)
    variant: str | None = None  # applied right after the model is built (evalsuite.variants)

    def to_json(self) -> dict:
        return {"source": self.source, "adapter": self.adapter, "target": self.target,
                "options": {k: v for k, v in self.options.items() if k not in ("progress",)},
                "variant": self.variant}


def _entry_and_target(source: str):
    from evalsuite.models.hf_loading import resolve_local

    adapter, _, rest = source.partition(":")
    if rest and REGISTRY.find("model", adapter) is not None and not Path(source).exists():
        return REGISTRY.get("model", adapter), rest
    entry = REGISTRY.find("model", source)
    if entry is not None:
        return entry, source
    if resolve_local(source) is not None:
        return REGISTRY.get("model", "evalsuite/hf"), source
    known = [e.name for e in REGISTRY.entries("model")]
    raise UserError(f"unknown model '{source}': not a registered model, a local folder or a cached Hugging Face "
                    f"model.{suggest(source, known)} (see: evalsuite list models)")


def resolve_model_spec(source: str, model_args: dict | None = None, flags: dict | None = None,
                       internal: dict | None = None, variant: str | None = None) -> ModelSpec:
    """Check and type every model option at once.

    `flags` are the run-wide ones (None = not given; refused by an adapter that does not take them);
    `internal` ones (such as progress) go only to adapters that declare them.
    """
    entry, target = _entry_and_target(source)
    entry, model_args = _backend(entry, dict(model_args or {}))
    specs = declared_options(entry.obj, skip=("spec",))
    owner = f"model adapter '{entry.short_name}'"
    problems = []
    given = {}
    for key, value in (flags or {}).items():
        if value is None or value is False and key == "trust_remote_code":
            continue
        if key not in specs:
            problems.append(f"--{key.replace('_', '-')} does not apply to {owner}; leave it out")
            continue
        given[key] = value
    given.update({k: v for k, v in (internal or {}).items() if k in specs})
    given.update(model_args or {})
    values, more = bind(specs, given, owner, "--model-args")
    problems += more
    device = values.get("device")
    if device is not None and not _DEVICE.match(str(device)):
        problems.append(f"--device '{device}' is not a device; use cpu, cuda or cuda:N")
    elif device is not None and str(device).startswith("cuda") and not _cuda_available(str(device)):
        problems.append(f"--device {device}: no such CUDA device on this machine; use --device cpu")
    from evalsuite.variants.apply import BASE, check_variant

    variant = None if variant == BASE else variant
    if variant is not None:
        try:
            check_variant(variant)
        except UserError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("; ".join(problems))
    return ModelSpec(source, entry.name, target, values, variant)


def _backend(entry, model_args: dict):
    """`backend=vllm` runs an `hf` model with vLLM in-process (the `vllm` adapter); `backend=hf` is the default."""
    if "backend" not in model_args or entry.name != "evalsuite/hf":
        return entry, model_args  # elsewhere `backend` is refused as an unknown option
    backend = str(model_args.pop("backend")).strip().lower()
    if backend not in ("hf", "vllm"):
        raise UserError(f"--model-args backend={backend} is not a backend; use hf (default) or vllm")
    return (REGISTRY.get("model", "evalsuite/vllm") if backend == "vllm" else entry), model_args


def _cuda_available(device: str) -> bool:
    import torch

    if not torch.cuda.is_available():
        return False
    index = int(device.partition(":")[2] or 0)
    return index < torch.cuda.device_count()


def build_model(spec: ModelSpec):
    """The adapter for `spec` (loads the model)."""
    from evalsuite.variants import apply_variant

    entry = REGISTRY.get("model", spec.adapter)
    return apply_variant(entry.obj(spec.target, **spec.options), spec.variant)


def load_model(source: str, *, progress: bool = False, **options):
    """Resolve and build in one step, for jobs that need a second model (options as Python values)."""
    return build_model(resolve_model_spec(source, options, internal={"progress": progress}))
