"""Built-in metric reducers, registered as the `metric` kind.

A reducer turns per-sample columns into one number. It reduces over the last
axis so the bootstrap can call it on a whole matrix of resamples at once.
"""

from __future__ import annotations

import math

import numpy as np

from evalsuite.registry import metric


@metric("mean", description="Mean of one per-sample field (accuracy, exact match, ...)")
def mean(columns, field: str):
    return np.mean(columns[field], axis=-1)


@metric("perplexity", description="exp(-sum logprob / sum tokens) over all samples")
def perplexity(columns, field: str = "logprob", count: str = "n_tokens"):
    return np.exp(-np.sum(columns[field], axis=-1) / np.sum(columns[count], axis=-1))


@metric("word_perplexity", description="exp(-sum logprob / sum words)")
def word_perplexity(columns, field: str = "logprob"):
    return perplexity(columns, field, count="n_words")


@metric("bits_per_byte", description="-sum logprob / (sum UTF-8 bytes * ln 2)")
def bits_per_byte(columns, field: str = "logprob"):
    return -np.sum(columns[field], axis=-1) / (np.sum(columns["n_bytes"], axis=-1) * math.log(2))
