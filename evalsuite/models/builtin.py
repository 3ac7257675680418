"""First-party model adapters, registered as the `model` kind.

A model factory takes the adapter's target (a hub id, a path, or nothing for a
built-in model) and its declared keyword-only options (see evalsuite.options):
the model factory (evalsuite.models.factory) refuses any other option before a
model is loaded. Factories import their heavy dependencies only when called.
"""

from __future__ import annotations

from typing import Annotated, Literal

from evalsuite.options import Option
from evalsuite.registry import model

Device = Annotated[str | None, Option("cpu, cuda, cuda:N (default: cuda when present)")]
Dtype = Annotated[Literal["float32", "bfloat16", "float16", "fp32", "bf16", "fp16"] | None,
                  Option("weights dtype (default: bfloat16 on CUDA, float32 on CPU)")]
TrustRemoteCode = Annotated[bool, Option("run Python code shipped in the model folder (off unless asked)")]
MaxLength = Annotated[int | None, Option("context length override (default: the model's)", min=1)]
TokenBudget = Annotated[int | None, Option("padded tokens per forward batch", min=1)]
BatchSize = Annotated[int, Option("inputs per forward batch", min=1)]
AllowPickle = Annotated[bool, Option("load a pickle/joblib or torch.save'd file: this runs code from the file, "
                                     "so only for files you trust")]
Name = Annotated[str | None, Option("display name", internal=True)]
Progress = Annotated[bool, Option("show loading progress", internal=True)]


@model("hf", description="Any causal LM transformers loads: a local folder or a cached hub id (hf:SPEC)")
def hf(spec: str, *, device: Device = None, dtype: Dtype = None, trust_remote_code: TrustRemoteCode = False,
       token_budget: TokenBudget = None, max_length: MaxLength = None, name: Name = None,
       progress: Progress = True):
    from evalsuite.models.hf import HFCausalLM

    return HFCausalLM(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                      token_budget=token_budget, max_length=max_length, name=name, progress=progress)


@model("demo", description="Built-in GPT-style demo model trained on the project's synthetic world")
def demo(spec: str = "demo", *, device: Device = None, dtype: Dtype = None, token_budget: TokenBudget = None,
         max_length: MaxLength = None, name: Name = None, progress: Progress = True):
    from evalsuite.demo import WEIGHTS_DIR
    from evalsuite.models.hf import HFCausalLM

    return HFCausalLM(str(WEIGHTS_DIR), device=device, dtype=dtype, token_budget=token_budget,
                      max_length=max_length, name=name or "demo", progress=progress)


@model("hf-classifier", description="A transformers sequence classifier over texts (hf-classifier:PATH)")
def hf_classifier(spec: str, *, device: Device = None, dtype: Dtype = None,
                  trust_remote_code: TrustRemoteCode = False, max_length: MaxLength = None,
                  batch_size: BatchSize = 32, name: Name = None, progress: Progress = True):
    from evalsuite.models.classifiers import HFSequenceClassifier

    return HFSequenceClassifier(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                                max_length=max_length, batch_size=batch_size, name=name, progress=progress)


@model("hf-encoder", description="A transformers encoder, mean-pooled sentence embeddings (hf-encoder:PATH)")
def hf_encoder(spec: str, *, device: Device = None, dtype: Dtype = None, trust_remote_code: TrustRemoteCode = False,
               max_length: MaxLength = None, batch_size: BatchSize = 64,
               normalize: Annotated[bool, Option("L2-normalise the embeddings")] = False, name: Name = None,
               progress: Progress = True):
    from evalsuite.models.encoder import HFEncoder

    return HFEncoder(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code, max_length=max_length,
                     batch_size=batch_size, normalize=normalize, name=name, progress=progress)


@model("sklearn", description="A fitted scikit-learn classifier: skops file, or joblib with allow_pickle=true "
       "(sklearn:FILE)")
def sklearn_classifier(spec: str, *, allow_pickle: AllowPickle = False, name: Name = None):
    from evalsuite.models.classifiers import SklearnClassifier

    return SklearnClassifier(spec, allow_pickle=allow_pickle, name=name)


@model("torch", description="A torch module over feature rows: TorchScript, or torch.save'd with allow_pickle=true "
       "(torch:FILE)")
def torch_classifier(spec: str, *, device: Device = None, allow_pickle: AllowPickle = False,
                     labels: Annotated[list[str] | None, Option("class names, in output order")] = None,
                     name: Name = None):
    from evalsuite.models.classifiers import TorchClassifier

    return TorchClassifier(spec, device=device, allow_pickle=allow_pickle, labels=labels, name=name)


@model("predictions", description="Stored predictions instead of a model (predictions:FILE, column=...)")
def predictions_file(spec: str, *, column: Annotated[str, Option("the predicted-label column")] = "prediction",
                     score_column: Annotated[str | None, Option("a score/probability column")] = None,
                     id_column: Annotated[str | None, Option("join on this id column instead of row order")] = None,
                     labels: Annotated[list[str] | None, Option("class names")] = None, name: Name = None):
    from evalsuite.models.classifiers import PredictionsFile

    return PredictionsFile(spec, column=column, score_column=score_column, id_column=id_column, labels=labels,
                           name=name)


# -- served models (evalsuite.models.served) ------------------------------------------------------------------------
ServedModel = Annotated[str | None, Option("the served model's name (default: the only one the server lists)")]
ApiKeyEnv = Annotated[str | None, Option("environment variable holding the API key (the key itself is never "
                                         "stored)")]
Concurrency = Annotated[int, Option("requests in flight at once", min=1, max=256)]
Timeout = Annotated[float, Option("seconds to wait for one answer", min=0, min_exclusive=True)]
MaxRetries = Annotated[int, Option("retries of a request after a 429, 5xx, timeout or dropped connection", min=0)]
RetryWait = Annotated[float, Option("first backoff in seconds (doubles each retry)", min=0)]
Extra = Annotated[list[str] | None, Option("KEY:VALUE fields added to every request body, e.g. repeat_penalty:1.0")]
SkipSelfCheck = Annotated[bool, Option("run without the endpoint self-check (recorded in the run)")]


@model("openai-completions", description="An OpenAI-compatible /v1/completions server (vLLM, TGI, SGLang, "
       "llama.cpp), self-checked before use (openai-completions:URL)")
def openai_completions(spec: str, *, model: ServedModel = None,
                       tokenizer: Annotated[str | None, Option("local tokenizer folder of the served model (default: "
                                                               "the server's tokenize endpoint)")] = None,
                       api_key_env: ApiKeyEnv = "OPENAI_API_KEY", concurrency: Concurrency = 4,
                       timeout: Timeout = 120.0, max_retries: MaxRetries = 6, retry_wait: RetryWait = 0.5,
                       extra: Extra = None, skip_self_check: SkipSelfCheck = False, name: Name = None,
                       progress: Progress = True):
    from evalsuite.models.served.openai import OpenAICompletionsLM

    return OpenAICompletionsLM(spec, model=model, tokenizer=tokenizer, api_key_env=api_key_env,
                               concurrency=concurrency, timeout=timeout, max_retries=max_retries,
                               retry_wait=retry_wait, extra=extra, skip_self_check=skip_self_check, name=name,
                               progress=progress)


@model("openai-chat", description="An OpenAI-compatible /v1/chat/completions server, for generation-only tasks "
       "(openai-chat:URL)")
def openai_chat(spec: str, *, model: ServedModel = None, api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
                concurrency: Concurrency = 4, timeout: Timeout = 120.0, max_retries: MaxRetries = 6,
                retry_wait: RetryWait = 0.5, extra: Extra = None,
                system: Annotated[str | None, Option("a system message before every prompt")] = None,
                skip_self_check: SkipSelfCheck = False, name: Name = None, progress: Progress = True):
    from evalsuite.models.served.openai import OpenAIChatLM

    return OpenAIChatLM(spec, model=model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                        max_retries=max_retries, retry_wait=retry_wait, extra=extra, system=system,
                        skip_self_check=skip_self_check, name=name, progress=progress)


@model("vllm", description="A causal LM run by vLLM in this process (extra [vllm], needs a GPU) (vllm:PATH)")
def vllm(spec: str, *, dtype: Dtype = None, trust_remote_code: TrustRemoteCode = False, max_length: MaxLength = None,
         gpu_memory_utilization: Annotated[float, Option("share of GPU memory vLLM may take", min=0, max=1,
                                                         min_exclusive=True)] = 0.5,
         tensor_parallel_size: Annotated[int, Option("GPUs to split the model over", min=1)] = 1,
         name: Name = None, progress: Progress = True):
    from evalsuite.models.served.vllm_backend import VLLMCausalLM

    return VLLMCausalLM(spec, dtype=dtype, trust_remote_code=trust_remote_code, max_length=max_length,
                        gpu_memory_utilization=gpu_memory_utilization, tensor_parallel_size=tensor_parallel_size,
                        name=name, progress=progress)
