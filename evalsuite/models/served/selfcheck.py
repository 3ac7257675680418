"""Probes an endpoint must pass before evalsuite trusts its numbers.

Servers answer 200 OK with prompt logprobs that are missing or wrong, and a
run that scores at chance costs an hour before anyone notices. A handful of
cheap requests on a fixed probe text catch the known failures first:

1. prompt logprobs: an echoed prompt comes back with a logprob per token.
2. token count: the server's prompt tokens are the local tokenizer's (one
   leading BOS aside), so context and continuation are split where they meet.
3. deterministic: the same request twice gives the same numbers.
4. greedy agrees: greedy generation after a prefix picks the token the echoed
   prompt ranks first at that position, with the same logprob (this catches
   prompt logprobs shifted by one token, and servers that penalise or sample
   at temperature 0).
5. additive: a prefix's logprobs are the same whether or not text follows it,
   so log P(continuation | context) is the difference of two echoed sums.

A failure is one line naming the probe and the likely cause. The echo request
style (`max_tokens` 0 where accepted, else 1), whether the server prepends a
BOS token, and a hash of the probe's logprobs (for the fingerprint) are
settled here too; with `skip_self_check=true` only those are.
"""

from __future__ import annotations

from evalsuite.models.served.client import EndpointError, Rejected
from evalsuite.models.served.openai import PROBE_TEXT, Echo, NoLogprobs, fingerprint_of_values

TOLERANCE = 1e-3  # the parity target against the HF engine in fp32; anything further apart is a different model
N_POSITIONS = 3
NO_LOGPROBS = "the server ignores echo/logprobs for the prompt (llama.cpp: start it with --logits_all true)"


class SelfCheckFailed(EndpointError):
    pass


def _fail(lm, probe: str, detail: str, cause: str):
    raise SelfCheckFailed(f"endpoint {lm.endpoint.url} (model '{lm.model_id}') failed the self-check '{probe}': "
                          f"{detail}; likely cause: {cause}. Fix the server, or pass --model-args "
                          "skip_self_check=true to run anyway (it is recorded in the run)")


def _find_tokenize(lm) -> str | None:
    """The server's tokenize endpoint (vLLM's /tokenize, llama-cpp-python's /extras/tokenize), or None."""
    for path, body in (("//tokenize", {"model": lm.model_id, "prompt": "a b", "add_special_tokens": False}),
                       ("//extras/tokenize", {"model": lm.model_id, "input": "a b"})):
        try:
            got = lm.endpoint.post(path, body, retries=0)
        except EndpointError:
            continue
        if isinstance(got, dict) and isinstance(got.get("tokens"), list):
            return path
    return None


def _echo_style(lm) -> Echo:
    """Echo the probe with max_tokens=0 where the server takes it, else 1; the echo is returned."""
    try:
        answer = lm.endpoint.post("/completions", lm.body(prompt=PROBE_TEXT, max_tokens=0, echo=True, logprobs=1,
                                                          temperature=0), retries=0)
        from evalsuite.models.served.openai import parse_echo

        echo = parse_echo(answer, PROBE_TEXT, 0, lm.endpoint)
        text = answer["choices"][0].get("text", PROBE_TEXT)
        if echo.logprobs and len(echo.logprobs) > 1 and text == PROBE_TEXT:  # some servers read 0 as "no limit"
            lm.echo_max_tokens = 0
            return echo
    except (Rejected, EndpointError):
        pass
    lm.echo_max_tokens = 1
    return lm.echo(PROBE_TEXT)


def _bos(lm, echo: Echo, n_local: int | None) -> bool | None:
    """Whether the server puts a BOS token before every prompt (None: cannot tell)."""
    if lm.tokenize_path == "//extras/tokenize":  # llama-cpp-python: drops BOS from the echo, keeps it here
        got = lm.endpoint.post("//extras/tokenize", {"model": lm.model_id, "input": PROBE_TEXT})
        n_server = len(got.get("tokens", [])) if isinstance(got, dict) else -1
        return n_server == (len(echo.logprobs) if n_local is None else n_local) + 1
    if n_local is None:
        return None
    if len(echo.logprobs) == n_local + 1:
        return True
    return False if len(echo.logprobs) == n_local else None


def _local_count(lm) -> int | None:
    """The probe's token count from the local tokenizer, else vLLM's tokenize endpoint (before BOS is known)."""
    if lm.tokenizer is not None or lm.tokenize_path == "//tokenize":
        return lm.count_tokens(PROBE_TEXT)
    return None


def run_self_check(lm, *, skip: bool) -> None:
    lm.tokenize_path = _find_tokenize(lm)  # counts tokens without a local tokenizer; tells whether BOS is added
    if skip:
        lm.self_check = {"skipped": True}
        try:
            echo = lm.echo(PROBE_TEXT)
            lm.server_adds_bos = _bos(lm, echo, _local_count(lm))
            lm.probe_sha256 = fingerprint_of_values(echo.logprobs)
        except EndpointError:
            pass  # no usable echo: the fingerprint then names the URL
        return
    # 1. prompt logprobs
    try:
        echo = _echo_style(lm)
    except NoLogprobs:
        _fail(lm, "prompt logprobs", "an echoed prompt came back without logprobs", NO_LOGPROBS)
    present = [v for v in echo.logprobs if v is not None]
    if len(present) < 2:
        _fail(lm, "prompt logprobs", f"{len(present)} of {len(echo.logprobs)} prompt tokens have a logprob",
              NO_LOGPROBS)
    # 2. token count
    lm.server_adds_bos = _bos(lm, echo, _local_count(lm))
    n_local = lm.count_tokens(PROBE_TEXT)  # None without any tokenizer: offsets split the prompt
    if n_local is not None and len(echo.logprobs) not in (n_local, n_local + 1):
        _fail(lm, "token count", f"the server scored the probe as {len(echo.logprobs)} tokens, the "
              f"{'local' if lm.tokenizer is not None else 'server'} tokenizer gives {n_local}",
              "client and server tokenizers differ: pass --model-args tokenizer=PATH with the served model's own "
              "tokenizer")
    entries = lm.prompt_entries(echo, n_local)
    # 3. deterministic
    again = lm.prompt_entries(lm.echo(PROBE_TEXT), n_local)
    diff = max((abs(a - b) for a, b in zip(entries.logprobs, again.logprobs) if a is not None and b is not None),
               default=0.0)
    if len(again.logprobs) != len(entries.logprobs) or diff > TOLERANCE:
        _fail(lm, "deterministic", f"the same echo request twice differs by {diff:.3g} nats",
              "the server samples or batches nondeterministically (set temperature 0 / a fixed seed, or disable "
              "batch-variant kernels)")
    # 4. greedy agrees with the top prompt logprob
    _greedy_probe(lm, entries)
    # 5. additivity: a prefix scores the same alone
    cut = _word_starts(entries)
    if cut:
        k = cut[len(cut) // 2]
        prefix_text = PROBE_TEXT[:entries.offsets[k]] if entries.offsets else "".join(entries.tokens[:k])
        n_prefix = lm.count_tokens(prefix_text)
        alone = lm.prompt_entries(lm.echo(prefix_text), n_prefix)
        full_sum = sum(v for v in entries.logprobs[:k] if v is not None)
        alone_sum = sum(v for v in alone.logprobs if v is not None)
        if len(alone.logprobs) != k or abs(full_sum - alone_sum) > TOLERANCE:
            _fail(lm, "additive", f"a prefix sums to {alone_sum:.4f} alone but {full_sum:.4f} inside a longer "
                  f"prompt ({len(alone.logprobs)} vs {k} tokens)",
                  "prompt logprobs depend on text after the token (a server bug), or the prompt is retokenized "
                  "differently at the cut")
    lm.probe_sha256 = fingerprint_of_values(entries.logprobs)
    lm.self_check = {"passed": ["prompt logprobs", "token count" if n_local is not None else "token count (no "
                                "tokenizer: not checked)", "deterministic", "greedy agrees", "additive"],
                     "echo_max_tokens": lm.echo_max_tokens, "bos": lm.server_adds_bos}


def _word_starts(entries: Echo) -> list[int]:
    """Positions (>= 2) of tokens that start a word: a prefix cut there tokenizes the same alone."""
    if entries.offsets:
        return [k for k in range(2, len(entries.tokens)) if PROBE_TEXT[entries.offsets[k]:].startswith(" ")]
    return [k for k in range(2, len(entries.tokens)) if entries.tokens[k].startswith(" ")]


def _greedy_probe(lm, entries: Echo) -> None:
    if not entries.top or not any(entries.top):
        return  # no top logprobs: is_greedy is reported False, and this probe cannot run
    positions = _word_starts(entries)
    step = max(1, len(positions) // N_POSITIONS)
    for k in positions[::step][:N_POSITIONS]:
        top = entries.top[k] or {}
        if not top:
            continue
        best_text, best = max(top.items(), key=lambda kv: kv[1])
        prefix = PROBE_TEXT[:entries.offsets[k]] if entries.offsets else "".join(entries.tokens[:k])
        text, choice = lm.complete(prefix, (), 1, logprobs=1)
        got = _generated_logprob(choice)
        # The values decide where the server reports them (token strings can differ in detokenization only).
        if (got is not None and abs(got - best) > TOLERANCE) or (got is None and text != best_text):
            _fail(lm, "greedy agrees", f"after {prefix[-24:]!r} greedy generation gives {text!r}"
                  f"{'' if got is None else f' ({got:.4f})'} but the echoed prompt ranks {best_text!r} "
                  f"({best:.4f}) first",
                  "prompt logprobs are shifted by one token (llama-cpp-python does this for a model whose GGUF "
                  "adds no BOS token), or the server penalises repeats or samples at temperature 0 (llama.cpp: "
                  "--model-args extra=repeat_penalty:1.0)")


def _generated_logprob(choice: dict) -> float | None:
    lp = choice.get("logprobs")
    values = lp.get("token_logprobs") if isinstance(lp, dict) else None
    if isinstance(values, list) and values and isinstance(values[0], (int, float)):
        return float(values[0])
    return None


def run_chat_check(lm, *, skip: bool) -> None:
    """Chat endpoints echo no prompt: the answer's shape and determinism are what can be checked."""
    if skip:
        lm.self_check = {"skipped": True}
        return
    first = lm.chat(PROBE_TEXT, (), 8)
    second = lm.chat(PROBE_TEXT, (), 8)
    if first != second:
        _fail(lm, "deterministic", f"the same greedy chat request gave {first!r} then {second!r}",
              "the server samples at temperature 0 or batches nondeterministically")
    lm.self_check = {"passed": ["shape", "deterministic"]}
