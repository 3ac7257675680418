"""The `hf` adapter: any causal LM that transformers loads, on the batched engine.

CUDA with bfloat16 when a GPU is present, CPU with float32 otherwise (both
overridable). `trust_remote_code` stays off unless asked for. Tokenization of
(context, continuation) pairs follows lm-eval's rules (trailing spaces of the
context move to the continuation; the pair is encoded whole and split at the
context's length; an empty context is conditioned on BOS/EOS), so scores are
comparable with lm-eval's own backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from evalsuite.progress import bar as progress_bar
from evalsuite.engine.batching import default_token_budget
from evalsuite.errors import UserError
from evalsuite.models.base import OnResult
from evalsuite.models.hf_loading import HFAdapter
from evalsuite.requests import (Generate, Loglikelihood, LoglikelihoodResult, LoglikelihoodRolling,
                                RollingResult)


class HFCausalLM(HFAdapter):
    """A Hugging Face causal LM behind the LanguageModel protocol."""

    capabilities = frozenset({"loglikelihood", "loglikelihood_rolling", "generate"})
    AUTO_CLASS, ADAPTER, KIND = "AutoModelForCausalLM", "hf", "causal LM"

    def __init__(self, spec: str, *, device: str | None = None, dtype: str | None = None,
                 trust_remote_code: bool = False, token_budget: int | None = None,
                 max_length: int | None = None, progress: bool = True, name: str | None = None):
        super().__init__(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         max_length=max_length, progress=progress, name=name)
        self.token_budget = token_budget or default_token_budget(self.device)
        self.show_progress = progress
        self._scorer = None
        self.tokens_processed = 0  # tokens fed to the model (cached answers cost none)

    # -- tokenization (lm-eval rules) -----------------------------------------
    @property
    def prefix_token_id(self) -> int:
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def tok_encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        return self.encode_pairs([(context, continuation)])[0]

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """Token ids of (context, continuation) pairs; each distinct text is encoded once, in one batch."""
        split = []
        for context, continuation in pairs:
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces:
                context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
            split.append((context, continuation))
        texts = list(dict.fromkeys(t for c, k in split for t in ((c, c + k) if c else (k,))))
        ids = dict(zip(texts, self.tokenizer(texts, add_special_tokens=False)["input_ids"])) if texts else {}
        out = []
        for context, continuation in split:
            if context == "":  # condition on BOS/EOS, as lm-eval does
                cont = ids[continuation]
                out.append((cont[:1], cont[1:]) if cont and cont[0] == self.prefix_token_id
                           else ([self.prefix_token_id], cont))
            else:
                ctx = ids[context]
                out.append((ctx, ids[context + continuation][len(ctx):]))
        return out

    # -- requests ------------------------------------------------------------
    def scorer(self):
        from evalsuite.engine.loglikelihood import LoglikelihoodScorer

        if self._scorer is None:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.prefix_token_id
            self._scorer = LoglikelihoodScorer(self.model, max_length=self.max_length,
                                               token_budget=self.token_budget, pad_id=pad)
        return self._scorer

    def _score_pairs(self, pairs, on_pair_done, desc):
        """Score token pairs, calling on_pair_done(k, (logprob, is_greedy)) as each finishes."""
        from evalsuite.engine.loglikelihood import truncate

        truncated = [truncate(c, k, self.max_length) for c, k in pairs]
        index_of: dict = {}
        for k, pair in enumerate(truncated):
            index_of.setdefault(pair, []).append(k)
        self.tokens_processed += sum(len(c) + len(k) - 1 for c, k in index_of)
        scorer = self.scorer()
        with progress_bar(total=len(index_of), desc=desc, unit="req", show=self.show_progress) as bar:
            scorer.progress = bar.update
            def done(batch):
                for pair, value in batch:
                    for k in index_of[pair]:
                        on_pair_done(k, value)
            scorer.score(truncated, done)

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_result: OnResult | None = None):
        pairs = self.encode_pairs([(req.context, req.continuation) for req in requests])
        for req, (_, cont) in zip(requests, pairs):
            if not cont:
                raise UserError(f"continuation {req.continuation!r} encodes to no tokens; give each choice text")
        results: list[LoglikelihoodResult | None] = [None] * len(requests)

        def finish(k, value):
            results[k] = LoglikelihoodResult(value[0], value[1], len(pairs[k][1]))
            if on_result:
                on_result(k, results[k])

        self._score_pairs(pairs, finish, "loglikelihood")
        return results

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_result: OnResult | None = None):
        from evalsuite.engine.rolling import rolling_windows

        pairs, owner = [], []
        for i, req in enumerate(requests):
            for window in rolling_windows(self.tok_encode(req.text), self.prefix_token_id, self.max_length):
                pairs.append(window)
                owner.append(i)
        remaining = [0] * len(requests)
        for i in owner:
            remaining[i] += 1
        sums = [0.0] * len(requests)
        counts = [len(self.tok_encode(r.text)) for r in requests]
        results: list[RollingResult | None] = [
            RollingResult(0.0, 0) if remaining[i] == 0 else None for i in range(len(requests))]

        def finish(k, value):
            i = owner[k]
            sums[i] += value[0]
            remaining[i] -= 1
            if remaining[i] == 0:
                results[i] = RollingResult(sums[i], counts[i])
                if on_result:
                    on_result(i, results[i])

        self._score_pairs(pairs, finish, "loglikelihood_rolling")
        return results

    def generate(self, requests: Sequence[Generate], on_result: OnResult | None = None):
        from evalsuite.engine.generate import Generator

        gen = Generator(self.model, self.tokenizer, max_length=self.max_length, token_budget=self.token_budget)
        with progress_bar(total=len(requests), desc="generate", unit="req", show=self.show_progress) as bar:
            gen.progress = bar.update
            def done(batch):
                for i, text in batch:
                    self.tokens_processed += len(prompts[i]) + len(self.tok_encode(text))
                    if on_result:
                        on_result(i, text)
            prompts = [self.tok_encode(r.prompt) for r in requests]
            return gen.generate(prompts, [r.until for r in requests],
                                [r.max_new_tokens for r in requests], done)

