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
from evalsuite.engine.kvcache import cache_argument, crop_to, new_cache, output_cache
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
        self._cache_arg = cache_argument(model)  # "cache" (transformers 5) or "past_key_values"
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
            done = self._run(batch)
            results.update(done)
            on_done(list(done.items()))
            if self.progress is not None:
                self.progress(sum(len(g.continuations) for g in batch))
        return results

    # -- one batch, retried smaller on out-of-memory -------------------------
    def _run(self, groups: list[_Group]) -> dict[TokenPair, tuple[float, bool]]:
        try:
            return self._forward(groups)
        except Exception as exc:  # only memory errors are retried
            if not is_out_of_memory(exc):
                raise
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(groups) > 1:
                half = len(groups) // 2
                return {**self._run(groups[:half]), **self._run(groups[half:])}
            raise UserError(
                f"out of memory scoring a single sequence of {groups[0].width} tokens on {self.device}; "
                "use a smaller --max-length, a lower-precision --dtype, or a larger device"
            ) from None

    @torch.no_grad()
    def _forward(self, groups: list[_Group]) -> dict[TokenPair, tuple[float, bool]]:
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
        cache = new_cache(self.model)
        out = self.model(input_ids=ids, use_cache=True, **{self._cache_arg: cache}, **kwargs)
        cache = output_cache(out, cache)
        rows = torch.arange(len(groups), device=self.device)
        first_logprobs = out.logits[rows, where].float().log_softmax(-1)  # predicts each continuation's 1st token

        # one gather and one transfer for every continuation's first token (no per-item device syncs)
        owners = [(i, cont) for i, g in enumerate(groups) for cont in g.continuations]
        rows_t = torch.tensor([i for i, _ in owners], device=self.device)
        firsts = torch.tensor([cont[0] for _, cont in owners], device=self.device)
        first_lp = first_logprobs[rows_t, firsts].tolist()
        argmax = first_logprobs.argmax(-1).tolist()
        results: dict[TokenPair, tuple[float, bool]] = {}
        # Per context, continuations longer than one token, keyed by their input (all but the last token):
        # continuations that differ only in their last token share one row and are read off its logits.
        tails: list[dict[tuple[int, ...], list[tuple]]] = [defaultdict(list) for _ in groups]
        for (i, cont), lp in zip(owners, first_lp):
            greedy = argmax[i] == cont[0]
            if len(cont) == 1:
                results[(groups[i].context, cont)] = (lp, greedy)
            else:
                tails[i][cont[:-1]].append((cont, lp, greedy))
        # Slot k holds every context's k-th tail input: each pass reads the context cache in place
        # (no per-continuation copies) and is cropped back to the contexts afterwards.
        rows_by_context = [list(t.values()) for t in tails]
        for slot in range(max((len(r) for r in rows_by_context), default=0)):
            chunk = [(groups[i].context, r[slot]) if slot < len(r) else None for i, r in enumerate(rows_by_context)]
            results.update(self._score_slot(chunk, cache, lengths, width))
            crop_to(cache, width)  # drop what the pass appended
        return results

    def _score_slot(self, chunk, cache, lengths, width):
        """One tail input per context row (None rows are padding), scored against the cached contexts.

        A row's members are the continuations sharing that input; each reads its own last target."""
        tail_width = max(len(item[1][0][0]) - 1 for item in chunk if item is not None)
        n = len(chunk)
        inputs = torch.full((n, tail_width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width + tail_width), dtype=torch.long)
        mask[:, 0] = 1  # a padding row still attends somewhere, so no softmax row is empty
        for r, item in enumerate(chunk):
            if item is not None:
                shared = item[1][0][0][:-1]
                inputs[r, : len(shared)] = torch.tensor(shared)
                mask[r, : lengths[r]] = 1
                mask[r, width: width + len(shared)] = 1
        # padding slots past the model's length reuse its last position; they are never read
        positions = (torch.tensor(lengths)[:, None] + torch.arange(tail_width)).clamp(max=self.max_length - 1)
        self.forward_calls += 1
        out = self.model(input_ids=inputs.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=positions.to(self.device), use_cache=True, **{self._cache_arg: cache})
        logprobs = out.logits.float().log_softmax(-1)
        members = [(r, m) for r, item in enumerate(chunk) if item is not None for m in item[1]]
        targets = torch.zeros((len(members), tail_width), dtype=torch.long)
        valid = torch.zeros((len(members), tail_width), dtype=torch.bool)
        for j, (_, (cont, _, _)) in enumerate(members):
            targets[j, : len(cont) - 1] = torch.tensor(cont[1:])
            valid[j, : len(cont) - 1] = True
        member_rows = torch.tensor([r for r, _ in members], device=self.device)
        targets, valid = targets.to(self.device), valid.to(self.device)
        picked = logprobs[member_rows]
        token_lp = picked.gather(2, targets[..., None])[..., 0].masked_fill(~valid, 0.0)
        sums = token_lp.sum(-1).tolist()
        all_greedy = ((picked.argmax(-1) == targets) | ~valid).all(-1).tolist()
        return {(chunk[r][0], cont): (lp + tail_lp, greedy and tail_greedy)
                for (r, (cont, lp, greedy)), tail_lp, tail_greedy in zip(members, sums, all_greedy)}
