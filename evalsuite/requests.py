"""The requests a task asks of a language model, and what comes back.

Requests are plain, hashable, text-level values: the engine decides how to
tokenize, batch and share work between them, and the request cache keys on
them (plus the model fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loglikelihood:
    """log P(continuation | context). Word-boundary spaces belong to the continuation."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodRolling:
    """log P(text), every token scored once with as much context as fits (perplexity)."""

    text: str


@dataclass(frozen=True)
class Generate:
    """Greedy continuation of `prompt`, cut at the first of `until`."""

    prompt: str
    until: tuple[str, ...] = ()
    max_new_tokens: int = 32


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float
    is_greedy: bool
    n_tokens: int


@dataclass(frozen=True)
class RollingResult:
    logprob: float
    n_tokens: int


Request = Loglikelihood | LoglikelihoodRolling | Generate
Result = LoglikelihoodResult | RollingResult | str

KIND_OF = {Loglikelihood: "loglikelihood", LoglikelihoodRolling: "loglikelihood_rolling", Generate: "generate"}


def request_key(request: Request) -> str:
    """A stable text key for a request (used by the cache)."""
    import json
    from dataclasses import asdict

    return json.dumps([KIND_OF[type(request)], asdict(request)], sort_keys=True, ensure_ascii=False)


def result_to_json(result: Result):
    from dataclasses import asdict

    return result if isinstance(result, str) else asdict(result)


def result_from_json(kind: str, value) -> Result:
    if kind == "loglikelihood":
        return LoglikelihoodResult(**value)
    if kind == "loglikelihood_rolling":
        return RollingResult(**value)
    return value
