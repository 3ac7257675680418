"""`openai-completions:URL` and `openai-chat:URL`: a served model behind the LanguageModel protocol.

Loglikelihood goes through `/v1/completions` with the prompt echoed and its
logprobs returned (`echo`, `logprobs=1`, and `max_tokens=0` where the server
takes it, else 1 with the generated token dropped). The echoed tokens are split
into context and continuation by counting tokens with a local tokenizer
(`tokenizer=PATH`), else with the server's tokenize endpoint, else by the
character offsets the server reports; lm-eval's rule applies (a context's
trailing spaces move to the continuation). Generation is greedy, through
completions or chat, with stop strings sent and applied again locally.

The adapter is refused before any task runs unless it passes the self-check
(`evalsuite.models.served.selfcheck`); `skip_self_check=true` runs anyway and
is recorded in the run's model spec. The fingerprint names the served model,
what the server reports about it (root, revision, metadata), the tokenizer and
the request options, plus a hash of the model's logprobs on a fixed probe, so
two servers answering to the same name with different weights never share
cached answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from evalsuite.errors import UserError
from evalsuite.fingerprint import hash_directory, sha256_json
from evalsuite.models.base import OnResult
from evalsuite.models.served.client import Endpoint, EndpointError, Rejected, require_shape
from evalsuite.progress import bar as progress_bar
from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodResult

PROBE_TEXT = "The quick brown fox jumps over the lazy dog, and the cat sat on the mat near the river."
SERVER_FIELDS = ("id", "root", "revision", "parent", "meta", "weights_sha256", "sha256", "digest")


class NoLogprobs(EndpointError):
    """An echoed prompt came back without logprobs."""


@dataclass
class Echo:
    """A prompt as the server scored it: one entry per prompt token (generated tokens removed)."""

    tokens: list[str]
    logprobs: list[float | None]
    offsets: list[int] | None
    top: list[dict | None] | None
    usage: dict


def parse_extra(items: Sequence[str] | None) -> dict:
    """`key:value` items (value read as JSON when it parses, else text) merged into every request body."""
    import json

    out = {}
    for item in items or ():
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise UserError(f"extra item '{item}' is not KEY:VALUE; write e.g. --model-args extra=repeat_penalty:1.0")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


class _Served:
    """What both endpoint adapters share: the endpoint, the served model's name and the fingerprint."""

    ADAPTER = "openai"
    module = None

    def __init__(self, url: str, *, model: str | None, api_key_env: str | None, concurrency: int,
                 timeout: float, max_retries: int, retry_wait: float, extra: Sequence[str] | None,
                 name: str | None, progress: bool):
        self.endpoint = Endpoint(url, api_key_env=api_key_env, timeout=timeout, max_retries=max_retries,
                                 retry_wait=retry_wait, concurrency=concurrency)
        self.extra = parse_extra(extra)
        self.show_progress = progress
        self.server_info = self._served_model(model)
        self.model_id = self.server_info["id"]
        self.name = name or self.model_id
        self.tokens_processed = 0
        self.self_check: dict = {}
        self._fingerprint = None

    def _served_model(self, wanted: str | None) -> dict:
        try:
            listing = self.endpoint.get("/models")
        except Rejected as exc:
            if exc.status in (401, 403):
                raise
            listing = None  # some servers have no /models; the name must then be given
        if listing is None:
            if not wanted:
                raise UserError(f"endpoint {self.endpoint.url} does not list its models; name the served model "
                                "with --model-args model=NAME")
            return {"id": wanted}
        data = listing.get("data") if isinstance(listing, dict) else None
        require_shape(isinstance(data, list) and all(isinstance(m, dict) and "id" in m for m in data),
                      self.endpoint, "GET /models must give {'data': [{'id': ...}, ...]}", listing)
        ids = [str(m["id"]) for m in data]
        if wanted:
            if ids and wanted not in ids:
                raise UserError(f"endpoint {self.endpoint.url} does not serve model '{wanted}' (it serves: "
                                f"{', '.join(ids)}); fix --model-args model=NAME")
            entry = next((m for m in data if str(m["id"]) == wanted), {"id": wanted})
        elif len(data) == 1:
            entry = data[0]
        else:
            raise UserError(f"endpoint {self.endpoint.url} serves {len(data)} models ({', '.join(ids) or 'none'}); "
                            "pick one with --model-args model=NAME")
        return {k: entry[k] for k in SERVER_FIELDS if entry.get(k) is not None}

    def body(self, **fields) -> dict:
        return {"model": self.model_id, **fields, **self.extra}

    def fingerprint_extra(self) -> dict:
        return {}

    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            fp = {"adapter": self.ADAPTER, "model": self.model_id, "server": self.server_info,
                  "request_options": self.extra, **self.fingerprint_extra()}
            if not fp.get("probe_sha256"):  # nothing tells the weights apart: two URLs must not share answers
                fp["url"] = self.endpoint.url
            self._fingerprint = fp
        return self._fingerprint

    def count_usage(self, answer: dict) -> None:
        usage = answer.get("usage") if isinstance(answer, dict) else None
        if isinstance(usage, dict):
            self.tokens_processed += int(usage.get("total_tokens") or 0)

    def loglikelihood_rolling(self, requests, on_result: OnResult | None = None):
        raise UserError(f"model '{self.name}' cannot answer 'loglikelihood_rolling' requests through an endpoint; "
                        "pick a task that does not need perplexity")

    def _generate(self, requests: Sequence[Generate], call, on_result: OnResult | None, desc: str) -> list[str]:
        from evalsuite.engine.generate import cut_at_stops

        def fn(i):
            return call(requests[i])

        def done(i, text):
            if on_result:
                on_result(i, text)

        with progress_bar(total=len(requests), desc=desc, unit="req", show=self.show_progress) as bar:
            texts = self.endpoint.map(fn, len(requests), done, bar.update)
        return [cut_at_stops(t, r.until) for t, r in zip(texts, requests)]


class OpenAICompletionsLM(_Served):
    """An OpenAI-compatible `/v1/completions` endpoint (vLLM, TGI, SGLang, llama.cpp servers)."""

    ADAPTER = "openai-completions"
    capabilities = frozenset({"loglikelihood", "generate"})

    def __init__(self, url: str, *, model: str | None = None, tokenizer: str | None = None,
                 api_key_env: str | None = "OPENAI_API_KEY", concurrency: int = 4, timeout: float = 120.0,
                 max_retries: int = 6, retry_wait: float = 0.5, extra: Sequence[str] | None = None,
                 skip_self_check: bool = False, name: str | None = None, progress: bool = True):
        super().__init__(url, model=model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                         max_retries=max_retries, retry_wait=retry_wait, extra=extra, name=name, progress=progress)
        self.tokenizer_path = tokenizer
        self.tokenizer = _load_tokenizer(tokenizer) if tokenizer else None
        self.tokenize_path: str | None = None  # the server's tokenize endpoint, when it has one and no local one
        self.echo_max_tokens = 1
        self.server_adds_bos: bool | None = None
        self.probe_sha256: str | None = None
        self._counts: dict[str, int] = {}
        from evalsuite.models.served.selfcheck import run_self_check

        run_self_check(self, skip=skip_self_check)

    def fingerprint_extra(self) -> dict:
        tok = None
        if self.tokenizer_path:
            from pathlib import Path

            folder = Path(self.tokenizer_path).expanduser()
            tok = hash_directory(folder) if folder.is_dir() else self.tokenizer_path
        return {"tokenizer": tok, "probe_sha256": self.probe_sha256, "bos": self.server_adds_bos}

    # -- tokens -------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` without special tokens: local tokenizer, else the server's endpoint, else None."""
        if text == "":
            return 0
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        if self.tokenize_path is None:
            return None
        if text not in self._counts:
            self._counts[text] = len(self._server_tokens(text))
        return self._counts[text]

    def _server_tokens(self, text: str) -> list:
        if self.tokenize_path == "//tokenize":  # vLLM
            got = self.endpoint.post("//tokenize", {"model": self.model_id, "prompt": text,
                                                    "add_special_tokens": False})
        else:  # llama-cpp-python's extras: it adds BOS when the model does
            got = self.endpoint.post(self.tokenize_path, {"model": self.model_id, "input": text})
        tokens = got.get("tokens") if isinstance(got, dict) else None
        require_shape(isinstance(tokens, list), self.endpoint, "a tokenize answer must give {'tokens': [...]}", got)
        if self.tokenize_path != "//tokenize" and self.server_adds_bos and tokens:
            tokens = tokens[1:]
        return tokens

    @property
    def bos_text(self) -> str | None:
        tok = self.tokenizer
        if tok is None:
            return None
        return tok.bos_token if tok.bos_token is not None else tok.eos_token

    # -- echo ---------------------------------------------------------------------------------
    def echo(self, prompt: str, *, max_tokens: int | None = None, top: int = 1) -> Echo:
        """The server's logprobs of every token of `prompt` (generated tokens removed)."""
        max_tokens = self.echo_max_tokens if max_tokens is None else max_tokens
        answer = self.endpoint.post("/completions", self.body(prompt=prompt, max_tokens=max_tokens, echo=True,
                                                              logprobs=top, temperature=0))
        self.count_usage(answer)
        return parse_echo(answer, prompt, max_tokens, self.endpoint)

    def prompt_entries(self, echo: Echo, n_prompt: int | None) -> Echo:
        """`echo` with a leading BOS entry removed, checked against the expected token count."""
        n = len(echo.logprobs)
        if n_prompt is not None and n == n_prompt + 1 and echo.logprobs[0] is None:
            return Echo(echo.tokens[1:], echo.logprobs[1:], echo.offsets[1:] if echo.offsets else None,
                        echo.top[1:] if echo.top else None, echo.usage)
        if n_prompt is not None and n != n_prompt:
            raise EndpointError(f"endpoint {self.endpoint.url} scored a prompt as {n} tokens where the tokenizer "
                                f"gives {n_prompt}: client and server tokenizers differ; pass --model-args "
                                "tokenizer=PATH with the served model's own tokenizer")
        return echo

    def _split(self, context: str, continuation: str) -> tuple[str, str, int | None, int | None]:
        """(context, continuation, continuation tokens, prompt tokens) under lm-eval's rules."""
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        if context == "" and not self.server_adds_bos:
            if self.bos_text is None:
                raise UserError("an empty context is scored after the BOS token, which needs the served model's "
                                "tokenizer: pass --model-args tokenizer=PATH")
            context = self.bos_text
        n_all = self.count_tokens(context + continuation)
        n_ctx = self.count_tokens(context)
        if n_all is None or n_ctx is None:
            return context, continuation, None, None
        return context, continuation, n_all - n_ctx, n_all

    def _score(self, echo: Echo, context: str, n_cont: int | None, n_prompt: int | None) -> LoglikelihoodResult:
        echo = self.prompt_entries(echo, n_prompt)
        if n_cont is None:  # no tokenizer anywhere: the server's character offsets split the prompt
            require_shape(echo.offsets is not None, self.endpoint, "echoed logprobs need text_offset", echo.offsets)
            n_cont = sum(1 for o in echo.offsets if o >= len(context))
        if n_cont <= 0:
            raise UserError(f"a continuation after {context[-30:]!r} encodes to no tokens; give each choice text")
        values = echo.logprobs[-n_cont:]
        if any(v is None for v in values):
            raise EndpointError(f"endpoint {self.endpoint.url} gave no logprob for a continuation token (the "
                                "first prompt token has none); the model needs a BOS token or a non-empty context")
        greedy = True
        for i in range(len(echo.logprobs) - n_cont, len(echo.logprobs)):
            best = max((v for v in (echo.top[i] or {}).values()), default=None) if echo.top else None
            if best is None or echo.logprobs[i] < best - 1e-6:
                greedy = False
                break
        return LoglikelihoodResult(float(sum(values)), greedy, n_cont)

    # -- requests -----------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[Loglikelihood], on_result: OnResult | None = None):
        split = [self._split(r.context, r.continuation) for r in requests]
        prompts = list(dict.fromkeys(c + k for c, k, _, _ in split))
        owners: dict[str, list[int]] = {}
        for i, (c, k, _, _) in enumerate(split):
            owners.setdefault(c + k, []).append(i)
        results: list[LoglikelihoodResult | None] = [None] * len(requests)

        def done(j, echo):
            for i in owners[prompts[j]]:
                context, _, n_cont, n_prompt = split[i]
                results[i] = self._score(echo, context, n_cont, n_prompt)
                if on_result:
                    on_result(i, results[i])

        with progress_bar(total=len(prompts), desc="loglikelihood", unit="req", show=self.show_progress) as bar:
            self.endpoint.map(lambda j: self.echo(prompts[j]), len(prompts), done, bar.update)
        return results

    def complete(self, prompt: str, until: Sequence[str], max_tokens: int, logprobs: int | None = None
                 ) -> tuple[str, dict]:
        body = self.body(prompt=prompt, max_tokens=max_tokens, temperature=0)
        if logprobs is not None:
            body["logprobs"] = logprobs
        if until:
            body["stop"] = list(until)
        answer = self.endpoint.post("/completions", body)
        choice = _first_choice(answer, self.endpoint)
        require_shape(isinstance(choice.get("text"), str), self.endpoint, "a completion choice needs 'text'", choice)
        self.count_usage(answer)
        return choice["text"], choice

    def generate(self, requests: Sequence[Generate], on_result: OnResult | None = None):
        return self._generate(requests, lambda r: self.complete(r.prompt, r.until, r.max_new_tokens)[0],
                              on_result, "generate")


class OpenAIChatLM(_Served):
    """An OpenAI-compatible `/v1/chat/completions` endpoint: generation only (chat APIs echo no prompt)."""

    ADAPTER = "openai-chat"
    capabilities = frozenset({"generate"})

    def __init__(self, url: str, *, model: str | None = None, api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 4, timeout: float = 120.0, max_retries: int = 6, retry_wait: float = 0.5,
                 extra: Sequence[str] | None = None, system: str | None = None, skip_self_check: bool = False,
                 name: str | None = None, progress: bool = True):
        super().__init__(url, model=model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                         max_retries=max_retries, retry_wait=retry_wait, extra=extra, name=name, progress=progress)
        self.system = system
        from evalsuite.models.served.selfcheck import run_chat_check

        run_chat_check(self, skip=skip_self_check)

    def fingerprint_extra(self) -> dict:
        return {"system": self.system}

    def chat(self, prompt: str, until: Sequence[str], max_tokens: int) -> str:
        messages = ([{"role": "system", "content": self.system}] if self.system else [])
        messages.append({"role": "user", "content": prompt})
        body = self.body(messages=messages, max_tokens=max_tokens, temperature=0)
        if until:
            body["stop"] = list(until)
        answer = self.endpoint.post("/chat/completions", body)
        choice = _first_choice(answer, self.endpoint)
        message = choice.get("message")
        require_shape(isinstance(message, dict) and isinstance(message.get("content"), (str, type(None))),
                      self.endpoint, "a chat choice needs message.content", choice)
        self.count_usage(answer)
        return message.get("content") or ""

    def loglikelihood(self, requests, on_result: OnResult | None = None):
        raise UserError(f"model '{self.name}' (openai-chat) cannot score loglikelihoods: chat endpoints do not echo "
                        "prompt logprobs; use openai-completions:URL for this task")

    def generate(self, requests: Sequence[Generate], on_result: OnResult | None = None):
        return self._generate(requests, lambda r: self.chat(r.prompt, r.until, r.max_new_tokens), on_result,
                              "generate")


# -- parsing ------------------------------------------------------------------------------------
def _first_choice(answer, endpoint: Endpoint) -> dict:
    choices = answer.get("choices") if isinstance(answer, dict) else None
    require_shape(isinstance(choices, list) and choices and isinstance(choices[0], dict), endpoint,
                  "an answer needs a non-empty 'choices' list", answer)
    return choices[0]


def parse_echo(answer, prompt: str, max_tokens: int, endpoint: Endpoint) -> Echo:
    """The prompt's entries of an echoed completion; generated entries (at or past the prompt's end) dropped."""
    choice = _first_choice(answer, endpoint)
    lp = choice.get("logprobs")
    if lp is None:
        raise NoLogprobs(f"endpoint {endpoint.url} returned no logprobs for an echoed prompt (it ignores echo/"
                            "logprobs); it cannot score loglikelihoods: start it with prompt logprobs enabled "
                            "(llama.cpp: --logits_all true) or use a task that only generates")
    tokens, values = lp.get("tokens") if isinstance(lp, dict) else None, lp.get("token_logprobs") \
        if isinstance(lp, dict) else None
    require_shape(isinstance(tokens, list) and isinstance(values, list) and len(tokens) == len(values),
                  endpoint, "logprobs need 'tokens' and 'token_logprobs' of one length", lp)
    offsets, top = lp.get("text_offset"), lp.get("top_logprobs")
    offsets = offsets if isinstance(offsets, list) and len(offsets) == len(tokens) else None
    top = top if isinstance(top, list) and len(top) == len(tokens) else None
    for v in values:
        require_shape(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                    and v <= 1e-4), endpoint, "token logprobs must be numbers <= 0 or null", v)
    n = len(tokens)
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    if offsets is not None:  # whatever was generated starts at the prompt's end
        n = sum(1 for o in offsets if isinstance(o, int) and o < len(prompt))
    elif max_tokens > 0:
        require_shape(isinstance(usage.get("completion_tokens"), int), endpoint,
                      "an echo with generated tokens needs text_offset or usage", lp)
        n = len(tokens) - usage["completion_tokens"]
    return Echo(list(tokens[:n]), list(values[:n]), offsets[:n] if offsets else None, top[:n] if top else None,
                answer.get("usage") or {})


def _load_tokenizer(path: str):
    from evalsuite.models.hf_loading import require_local

    folder = require_local(path, "tokenizer")
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load tokenizer '{path}': {first}; pass the served model's tokenizer "
                        "folder as --model-args tokenizer=PATH") from None


def fingerprint_of_values(values: Sequence[float | None]) -> str:
    """A hash of logprobs rounded to 1e-3, so one model's answers are told from another's."""
    return sha256_json([None if v is None else round(v, 3) for v in values])
