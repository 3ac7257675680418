"""The typed Task a task plugin returns, and builders for the common shapes.

A native task is one small file with one decorated function:

    @task("my_mc")
    def my_mc() -> Task:
        return multiple_choice(load_records(DATA / "x.jsonl"), context="question",
                               choices="options", answer="label")

A Task holds its documents, how each document becomes model requests, how the
results of those requests score the document, and which metrics (with their
direction) reduce the per-sample scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodRolling, Request, Result

Doc = dict[str, Any]


@dataclass(frozen=True)
class Direction:
    """Which way is better: 'higher', 'lower', or 'ideal' (closest to `ideal` is best)."""

    kind: str
    ideal: float | None = None

    def to_json(self) -> dict:
        return {"direction": self.kind, "ideal": self.ideal}


HIGHER = Direction("higher")
LOWER = Direction("lower")


def ideal(value: float) -> Direction:
    return Direction("ideal", float(value))


@dataclass(frozen=True)
class MetricSpec:
    """A metric: a registered reducer applied to per-sample columns, with a direction.

    `args` are the reducer's keyword arguments; by convention `args["mask"]` names a 0/1 column
    that selects the subgroup a metric covers, and the record's n counts that subgroup.
    """

    name: str
    reducer: str  # a registered metric name, e.g. "mean" or "perplexity"
    direction: Direction
    args: dict[str, str] = field(default_factory=dict)


@dataclass
class Task:
    """Everything the runner needs to evaluate one task on one model."""

    docs: Sequence[Doc]
    requests: Callable[[Doc], list[Request]]
    score: Callable[[Doc, list[Result]], dict[str, float]]
    metrics: list[MetricSpec]
    description: str = ""
    version: str = "1"
    name: str = ""  # filled in by the registry lookup
    category: str = "capability"  # leaderboard category; see evalsuite.jobs.CATEGORIES
    # Multiple choice: (doc, results) -> (each choice's loglikelihood, gold index); the runner derives
    # calibration (evalsuite.calibration) from it. None for other task shapes.
    choice_scores: Callable[[Doc, list[Result]], tuple[list[float], int]] | None = None
    # The answer texts of a document (choices, target): `--perturb` never alters a word they contain.
    answer_texts: Callable[[Doc], list[str]] | None = None


def _getter(spec: str | Callable[[Doc], Any]) -> Callable[[Doc], Any]:
    return spec if callable(spec) else (lambda doc: doc[spec])


def multiple_choice(
    docs: Sequence[Doc],
    *,
    context: str | Callable[[Doc], str],
    choices: str | Callable[[Doc], list[str]],
    answer: str | Callable[[Doc], int],
    description: str = "",
) -> Task:
    """Loglikelihood multiple choice: acc (argmax sum logprob) and acc_norm (per byte).

    The runner adds calibration metrics (ECE, Brier, selective prediction) from the same loglikelihoods.
    """
    get_ctx, get_choices, get_answer = _getter(context), _getter(choices), _getter(answer)

    def requests(doc):
        return [Loglikelihood(get_ctx(doc), c) for c in get_choices(doc)]

    def score(doc, results):
        lps = [r.logprob for r in results]
        norm = [lp / max(1, len(c.encode("utf-8"))) for lp, c in zip(lps, get_choices(doc))]
        gold = int(get_answer(doc))
        return {
            "acc": float(max(range(len(lps)), key=lps.__getitem__) == gold),
            "acc_norm": float(max(range(len(norm)), key=norm.__getitem__) == gold),
            "n_choices": float(len(lps)),
        }

    def choice_scores(doc, results):
        return [r.logprob for r in results], int(get_answer(doc))

    metrics = [MetricSpec("acc", "mean", HIGHER, {"field": "acc"}),
               MetricSpec("acc_norm", "mean", HIGHER, {"field": "acc_norm"})]
    return Task(docs, requests, score, metrics, description, choice_scores=choice_scores,
                answer_texts=lambda doc: [str(c) for c in get_choices(doc)])


def perplexity(docs: Sequence[Doc], *, text: str | Callable[[Doc], str], description: str = "") -> Task:
    """Rolling loglikelihood of whole documents: token/word perplexity and bits per byte."""
    get_text = _getter(text)

    def requests(doc):
        return [LoglikelihoodRolling(get_text(doc))]

    def score(doc, results):
        body = get_text(doc)
        return {"logprob": results[0].logprob, "n_tokens": float(results[0].n_tokens),
                "n_words": float(len(body.split())), "n_bytes": float(len(body.encode("utf-8")))}

    metrics = [MetricSpec("perplexity", "perplexity", LOWER),
               MetricSpec("word_perplexity", "word_perplexity", LOWER),
               MetricSpec("bits_per_byte", "bits_per_byte", LOWER)]
    return Task(docs, requests, score, metrics, description)


def generation(
    docs: Sequence[Doc],
    *,
    prompt: str | Callable[[Doc], str],
    answer: str | Callable[[Doc], str],
    until: Sequence[str] = ("\n",),
    max_new_tokens: int = 32,
    description: str = "",
) -> Task:
    """Greedy generation scored by exact match (after stripping white space)."""
    get_prompt, get_answer = _getter(prompt), _getter(answer)

    def requests(doc):
        return [Generate(get_prompt(doc), tuple(until), max_new_tokens)]

    def score(doc, results):
        return {"exact_match": float(results[0].strip() == str(get_answer(doc)).strip())}

    return Task(docs, requests, score, [MetricSpec("exact_match", "mean", HIGHER, {"field": "exact_match"})],
                description, answer_texts=lambda doc: [str(get_answer(doc))])


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file '{path}' does not exist; check the path or regenerate the data")
    return path


def load_table(path: str | Path):
    """Load a local .csv or .parquet file as a pandas DataFrame (offline)."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise UserError(f"data file '{path}' has unsupported type '{suffix}'; use .csv or .parquet")
    import pandas as pd

    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise UserError(f"data file '{path}' could not be read ({exc}); fix the file") from None


def load_records(path: str | Path) -> list[Doc]:
    """Load a local .jsonl/.json/.csv/.parquet file into a list of dicts (offline)."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        return load_table(path).to_dict(orient="records")
    try:
        if suffix == ".jsonl":
            from evalsuite.records import read_jsonl

            return read_jsonl(path, what="data file", fix="fix that line")
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, list) else data["data"]
    except (ValueError, KeyError) as exc:
        raise UserError(f"data file '{path}' is malformed ({exc}); fix the file") from None
    raise UserError(f"data file '{path}' has unsupported type '{suffix}'; use .jsonl, .json, .csv or .parquet")
