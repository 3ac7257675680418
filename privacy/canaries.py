"""Canary exposure (Carlini et al., "The Secret Sharer", 2019).

A canary is a secret with a known format planted in the training data, e.g.
"my secret code is 4831-2270". Its exposure is log2|R| - log2(rank), where the
rank orders the canary among every secret of the same format R by the model's
loss on the secret part given the prefix. Scoring all of R (81 million codes
here) is too slow, so the rank is estimated from m random candidates of the same
format: exposure = -log2((k + 1) / (m + 1)), k = candidates with a lower loss.
An unmemorized canary has a uniform rank, so its expected exposure is
1/ln 2 ~ 1.44 bits; the estimate saturates at log2(m + 1) bits, which the record
states.
"""

from __future__ import annotations

import math
import random

import numpy as np

CHANCE_EXPOSURE_BITS = 1 / math.log(2)


def split_canary(canary: str) -> tuple[str, str]:
    """(prefix, secret): the secret is the last word (the part with digits)."""
    prefix, _, secret = canary.rpartition(" ")
    return prefix, secret


def format_size(secret: str) -> int:
    """|R| for secrets of this format: runs of digits whose first digit is 1-9 (as make_canaries draws them)."""
    size, previous_digit = 1, False
    for ch in secret:
        if ch.isdigit():
            size *= 10 if previous_digit else 9
        previous_digit = ch.isdigit()
    return size


def random_candidates(secret: str, m: int, seed: int, exclude: set[str]) -> list[str]:
    """`m` distinct random secrets of the same format, none of them a planted canary."""
    rng = random.Random(seed)
    if m >= format_size(secret) - len(exclude):
        raise ValueError(f"asked for {m} candidates from a space of {format_size(secret)}")
    out: set[str] = set()
    while len(out) < m:
        chars, previous_digit = [], False
        for ch in secret:
            if ch.isdigit():
                chars.append(str(rng.randint(0 if previous_digit else 1, 9)))
            else:
                chars.append(ch)
            previous_digit = ch.isdigit()
        cand = "".join(chars)
        if cand not in exclude:
            out.add(cand)
    return sorted(out)


def secret_losses(model, prefix: str, secrets: list[str]) -> np.ndarray:
    """-log P(" " + secret | prefix) for each secret, through the adapter's loglikelihood."""
    from evalsuite.requests import Loglikelihood

    results = model.loglikelihood([Loglikelihood(prefix, " " + s) for s in secrets])
    return np.array([-r.logprob for r in results], dtype=float)


def exposure_from_losses(canary_loss: float, candidate_losses: np.ndarray) -> float:
    k = int(np.sum(candidate_losses < canary_loss))
    return float(-math.log2((k + 1) / (len(candidate_losses) + 1)))


def canary_exposures(model, canaries: list[str], *, n_candidates: int = 1000, seed: int = 0) -> list[dict]:
    """Exposure of each canary with its rank estimate; candidates are shared by canaries of one format."""
    rows = []
    planted = {split_canary(c)[1] for c in canaries}
    for i, canary in enumerate(canaries):
        prefix, secret = split_canary(canary)
        candidates = random_candidates(secret, n_candidates, seed + i, planted)
        losses = secret_losses(model, prefix, [secret] + candidates)
        exposure = exposure_from_losses(losses[0], losses[1:])
        rows.append({"canary": canary, "loss": float(losses[0]), "exposure_bits": exposure,
                     "format_size": format_size(secret), "n_candidates": n_candidates,
                     "max_measurable_bits": math.log2(n_candidates + 1),
                     "candidates_beating_canary": int(np.sum(losses[1:] < losses[0]))})
    return rows
