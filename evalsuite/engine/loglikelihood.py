"""Loglikelihood of continuations given contexts, with each context computed once.

Requests sharing a context (the choices of one question) are grouped. A batch
of distinct contexts is run once, right-padded, keeping its key/value cache;
each continuation is then scored from that cache, so a long shared context
costs one forward pass instead of one per choice. Continuations of a single
token need no second pass at all: the context's last logits score them.

Right padding keeps every real position's computation identical to an
unpadded run (a causal model never looks right), and the padded cache slots
are masked out in the continuation pass, so results do not depend on how
requests were batched.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from evalsuite.engine.batching import is_out_of_memory, token_budget_batches
from evalsuite.errors import UserError

TokenPair = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass
class _Group:
    context: tuple[int, ...]
    continuations: list[tuple[int, ...]]

    @property
    def width(self) -> int:
        return len(self.context) + max(len(c) for c in self.continuations)


def truncate(context: Sequence[int], continuation: Sequence[int], max_length: int) -> TokenPair:
    """Left-truncate so the model input (context + continuation minus its last token) fits."""
    if not continuation or not context:
        raise ValueError("context and continuation must each have at least one token")
    if len(continuation) > max_length:
        raise UserError(
            f"a continuation of {len(continuation)} tokens exceeds the model's maximum length {max_length}; "
            "shorten the answer texts or use a model with a longer context"
        )
    whole = (tuple(context) + tuple(continuation))[-(max_length + 1):]
    return whole[: len(whole) - len(continuation)], tuple(continuation)


class LoglikelihoodScorer:
    """Scores token pairs on a causal LM; one instance per model."""

    def __init__(self, model, *, max_length: int, token_budget: int, pad_id: int = 0, progress=None):
        self.model = model
        self.max_length = max_length
        self.token_budget = token_budget
        self.pad_id = pad_id
        self.progress = progress
        self.device = next(model.parameters()).device
        self._keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.forward_calls = 0  # how many model forwards ran (tests and benchmarks read it)

    def score(
        self, pairs: Sequence[TokenPair], on_done: Callable[[list[tuple[TokenPair, tuple[float, bool]]]], None]
    ) -> dict[TokenPair, tuple[float, bool]]:
        """Score unique truncated pairs; `on_done` receives each finished batch."""
        by_context: dict[tuple[int, ...], list[tuple[int, ...]]] = defaultdict(list)
        for ctx, cont in dict.fromkeys(pairs):
            by_context[ctx].append(cont)
        groups = [_Group(ctx, conts) for ctx, conts in by_context.items()]
        results: dict[TokenPair, tuple[float, bool]] = {}
        for batch in token_budget_batches(groups, lambda g: g.width, self.token_budget):
            done = self._run(batch, self.token_budget)
            results.update(done)
            on_done(list(done.items()))
            if self.progress is not None:
                self.progress(sum(len(g.continuations) for g in batch))
        return results

    # -- one batch, retried smaller on out-of-memory -------------------------
    def _run(self, groups: list[_Group], row_budget: int) -> dict[TokenPair, tuple[float, bool]]:
        try:
            return self._forward(groups, row_budget)
        except Exception as exc:  # only memory errors are retried
            if not is_out_of_memory(exc):
                raise
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(groups) > 1:
                half = len(groups) // 2
                return {**self._run(groups[:half], row_budget), **self._run(groups[half:], row_budget)}
            if row_budget > groups[0].width:
                return self._run(groups, max(groups[0].width, row_budget // 2))
            raise UserError(
                f"out of memory scoring a single sequence of {groups[0].width} tokens on {self.device}; "
                "use a smaller --max-length, a lower-precision --dtype, or a larger device"
            ) from None

    @torch.no_grad()
    def _forward(self, groups: list[_Group], row_budget: int) -> dict[TokenPair, tuple[float, bool]]:
        lengths = [len(g.context) for g in groups]
        width = max(lengths)
        ids = torch.full((len(groups), width), self.pad_id, dtype=torch.long)
        for i, g in enumerate(groups):
            ids[i, : lengths[i]] = torch.tensor(g.context)
        ids = ids.to(self.device)
        last = torch.tensor(lengths, device=self.device) - 1
        kwargs = {}
        if self._keeps_logits:
            keep = torch.unique(last)
            kwargs["logits_to_keep"] = keep
            where = torch.searchsorted(keep, last)
        else:
            where = last
        self.forward_calls += 1
        out = self.model(input_ids=ids, use_cache=True, **kwargs)
        rows = torch.arange(len(groups), device=self.device)
        first_logprobs = out.logits[rows, where].float().log_softmax(-1)  # predicts each continuation's 1st token
        cache_layers = _cache_tensors(out.past_key_values)

        # one gather and one transfer for every continuation's first token (no per-item device syncs)
        owners = [(i, cont) for i, g in enumerate(groups) for cont in g.continuations]
        rows_t = torch.tensor([i for i, _ in owners], device=self.device)
        firsts = torch.tensor([cont[0] for _, cont in owners], device=self.device)
        first_lp = first_logprobs[rows_t, firsts].tolist()
        argmax = first_logprobs.argmax(-1).tolist()
        results: dict[TokenPair, tuple[float, bool]] = {}
        tails = []  # continuations longer than one token need a pass over their own tokens
        for (i, cont), lp in zip(owners, first_lp):
            greedy = argmax[i] == cont[0]
            if len(cont) == 1:
                results[(groups[i].context, cont)] = (lp, greedy)
            else:
                tails.append((i, groups[i].context, cont, lp, greedy))
        if tails:
            chunks = token_budget_batches(tails, lambda t: width + len(t[2]) - 1, row_budget)
            for chunk in chunks:
                results.update(self._score_tails(chunk, cache_layers, lengths, width))
        return results

    def _score_tails(self, chunk, cache_layers, lengths, width):
        from transformers import DynamicCache

        tail_width = max(len(t[2]) - 1 for t in chunk)
        n = len(chunk)
        inputs = torch.full((n, tail_width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width + tail_width), dtype=torch.long)
        positions = torch.zeros((n, tail_width), dtype=torch.long)
        for r, (i, _, cont, _, _) in enumerate(chunk):
            inputs[r, : len(cont) - 1] = torch.tensor(cont[:-1])
            mask[r, : lengths[i]] = 1
            mask[r, width : width + len(cont) - 1] = 1
            # padding slots past the model's length reuse its last position; they are never read
            positions[r] = (lengths[i] + torch.arange(tail_width)).clamp(max=self.max_length - 1)
        source_rows = torch.tensor([t[0] for t in chunk], device=self.device)
        cache = DynamicCache(config=self.model.config)
        for layer, (keys, values) in enumerate(cache_layers):
            cache.update(keys[source_rows], values[source_rows], layer)
        self.forward_calls += 1
        out = self.model(
            input_ids=inputs.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            past_key_values=cache,
            use_cache=True,
        )
        logprobs = out.logits.float().log_softmax(-1)
        targets = torch.zeros((n, tail_width), dtype=torch.long)
        valid = torch.zeros((n, tail_width), dtype=torch.bool)
        for r, (_, _, cont, _, _) in enumerate(chunk):
            targets[r, : len(cont) - 1] = torch.tensor(cont[1:])
            valid[r, : len(cont) - 1] = True
        targets, valid = targets.to(self.device), valid.to(self.device)
        token_lp = logprobs.gather(2, targets[..., None])[..., 0].masked_fill(~valid, 0.0)
        sums = token_lp.sum(-1).tolist()
        all_greedy = ((logprobs.argmax(-1) == targets) | ~valid).all(-1).tolist()
        return {(ctx, cont): (lp + tail_lp, greedy and tail_greedy)
                for (_, ctx, cont, lp, greedy), tail_lp, tail_greedy in zip(chunk, sums, all_greedy)}


def _cache_tensors(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) per layer from a transformers cache object or legacy tuple."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return [(k, v) for k, v in cache]
