"""Rolling windows for whole-document loglikelihood (perplexity).

Every token is predicted exactly once; each window after the first is given as
much preceding context as fits in the model, the same disjoint-window scheme
lm-eval uses, so perplexities are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence


def rolling_windows(tokens: Sequence[int], prefix_token: int, max_length: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Split `tokens` into (context, continuation) pairs whose input fits `max_length`.

    The first window is conditioned on `prefix_token` (BOS/EOS); later windows
    predict the next `max_length` tokens from the tokens just before them.
    """
    tokens = tuple(tokens)
    if not tokens:
        return []
    windows = [((prefix_token,), tokens[:max_length])]
    start = max_length
    while start < len(tokens):
        end = min(start + max_length, len(tokens))
        context_start = max(0, end - max_length - 1)
        windows.append((tokens[context_start:start], tokens[start:end]))
        start = end
    return windows
