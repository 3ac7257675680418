"""Served models: OpenAI-compatible endpoints and vLLM in-process, behind the LanguageModel protocol.

`client` talks HTTP (bounded concurrency, retries with backoff on 429, 5xx and
timeouts, the API key read from an environment variable and never stored);
`openai` turns the engine's requests into `/v1/completions` and
`/v1/chat/completions` calls; `selfcheck` probes an endpoint before it is
trusted (prompt logprobs present, aligned, deterministic and additive);
`vllm_backend` runs vLLM in the same process. Only the standard library is
needed for endpoints; vLLM is the `[vllm]` extra, imported when used.
"""
