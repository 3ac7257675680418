"""Batched greedy generation with stop sequences.

Prompts are left-padded (generation appends on the right), batched by a token
budget counting prompt plus new tokens, and each output is cut at the first
stop sequence. A batch stops as soon as every row has hit a stop sequence or
EOS, so one long answer does not hold the rest of the batch hostage for long.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers import StoppingCriteria

from evalsuite.engine.batching import is_out_of_memory, token_budget_batches
from evalsuite.errors import UserError


def cut_at_stops(text: str, until: Sequence[str]) -> str:
    """Text up to (not including) the earliest stop sequence."""
    cut = len(text)
    for stop in until:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


class _StopWhenAllDone(StoppingCriteria):
    """Stopping criterion: every row has produced EOS or one of its stop strings."""

    def __init__(self, tokenizer, prompt_width: int, until: list[Sequence[str]], eos_id: int | None):
        self.tokenizer, self.prompt_width, self.until, self.eos_id = tokenizer, prompt_width, until, eos_id

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.prompt_width:]
        done = []
        for row, stops in zip(new, self.until):
            text = self.tokenizer.decode(row, skip_special_tokens=False)
            hit_eos = self.eos_id is not None and bool((row == self.eos_id).any())
            done.append(hit_eos or any(s and s in text for s in stops))
        return torch.tensor(done, device=input_ids.device)


class Generator:
    def __init__(self, model, tokenizer, *, max_length: int, token_budget: int, progress=None):
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.token_budget, self.progress = max_length, token_budget, progress
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def generate(
        self,
        prompts: Sequence[list[int]],
        until: Sequence[Sequence[str]],
        max_new_tokens: Sequence[int],
        on_done: Callable[[list[tuple[int, str]]], None],
    ) -> list[str]:
        items = []
        for i, ids in enumerate(prompts):
            room = self.max_length - max_new_tokens[i]
            if room < 1:
                raise UserError(f"max_new_tokens={max_new_tokens[i]} leaves no room for a prompt in "
                                f"{self.max_length} tokens; lower max_new_tokens")
            items.append((i, list(ids)[-room:], tuple(until[i]), max_new_tokens[i]))
        out: list[str] = [""] * len(items)
        for batch in token_budget_batches(items, lambda t: len(t[1]) + t[3], self.token_budget):
            done = self._run(batch)
            for i, text in done:
                out[i] = text
            on_done(done)
            if self.progress is not None:
                self.progress(len(batch))
        return out

    def _run(self, batch):
        try:
            return self._generate(batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if len(batch) == 1:
                raise UserError(f"out of memory generating from one prompt of {len(batch[0][1])} tokens; "
                                "lower max_new_tokens or use a larger device") from None
            half = len(batch) // 2
            return self._run(batch[:half]) + self._run(batch[half:])

    @torch.no_grad()
    def _generate(self, batch):
        width = max(len(t[1]) for t in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (_, prompt, _, _) in enumerate(batch):
            ids[r, width - len(prompt):] = torch.tensor(prompt)
            mask[r, width - len(prompt):] = 1
        stop = _StopWhenAllDone(self.tokenizer, width, [t[2] for t in batch], self.tokenizer.eos_token_id)
        generated = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=max(t[3] for t in batch),
            do_sample=False,
            pad_token_id=self.pad_id,
            stopping_criteria=[stop],
        )
        results = []
        for r, (i, _, stops, limit) in enumerate(batch):
            new = generated[r, width: width + limit].tolist()
            if self.tokenizer.eos_token_id in new:
                new = new[: new.index(self.tokenizer.eos_token_id)]
            results.append((i, cut_at_stops(self.tokenizer.decode(new, skip_special_tokens=True), stops)))
        return results
