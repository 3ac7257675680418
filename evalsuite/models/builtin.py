"""First-party model adapters, registered as the `model` kind.

A model factory takes the model spec (a hub id, a path, or nothing for a
built-in model) and adapter options, and returns an adapter. Factories import
their heavy dependencies only when called.
"""

from __future__ import annotations

from evalsuite.registry import model


@model("hf", description="Any causal LM transformers loads: a local folder or a cached hub id (hf:SPEC)")
def hf(spec: str, **options):
    from evalsuite.models.hf import HFCausalLM

    return HFCausalLM(spec, **options)


@model("demo", description="Built-in GPT-style demo model trained on the project's synthetic world")
def demo(spec: str = "demo", **options):
    from evalsuite.demo import WEIGHTS_DIR
    from evalsuite.models.hf import HFCausalLM

    options.setdefault("name", "demo")
    return HFCausalLM(str(WEIGHTS_DIR), **options)
