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


# Options every adapter is given by the run config; adapters without a torch model take none of them.
_TORCH_ONLY = ("device", "dtype", "token_budget", "max_length", "trust_remote_code", "progress")


def _without_torch_options(options: dict) -> dict:
    return {k: v for k, v in options.items() if k not in _TORCH_ONLY}


@model("hf-classifier", description="A transformers sequence classifier over texts (hf-classifier:PATH)")
def hf_classifier(spec: str, **options):
    from evalsuite.models.classifiers import HFSequenceClassifier

    return HFSequenceClassifier(spec, **options)


@model("hf-encoder", description="A transformers encoder, mean-pooled sentence embeddings (hf-encoder:PATH)")
def hf_encoder(spec: str, **options):
    from evalsuite.models.encoder import HFEncoder

    return HFEncoder(spec, **options)


@model("sklearn", description="A fitted scikit-learn classifier saved with joblib (sklearn:FILE)")
def sklearn_classifier(spec: str, **options):
    from evalsuite.models.classifiers import SklearnClassifier

    return SklearnClassifier(spec, **_without_torch_options(options))


@model("torch", description="A torch module over feature rows: TorchScript or torch.save'd module (torch:FILE)")
def torch_classifier(spec: str, **options):
    from evalsuite.models.classifiers import TorchClassifier

    kept = _without_torch_options(options)
    if "device" in options:
        kept["device"] = options["device"]
    return TorchClassifier(spec, **kept)


@model("predictions", description="Stored predictions instead of a model (predictions:FILE, column=...)")
def predictions_file(spec: str, **options):
    from evalsuite.models.classifiers import PredictionsFile

    return PredictionsFile(spec, **_without_torch_options(options))
