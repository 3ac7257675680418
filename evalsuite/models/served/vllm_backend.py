"""`vllm:PATH` (or `hf:PATH` with `backend=vllm`): a causal LM run by vLLM in this process.

For throughput on a GPU. Loglikelihood comes from vLLM's prompt logprobs on the
exact token ids evalsuite's tokenization gives (lm-eval's rules, the same code
path as the `hf` adapter's), so context and continuation split where they do
for `hf`; generation is vLLM's greedy sampler with stop strings. Records are
the same as any other adapter's. vLLM is imported only when this adapter is
built, and a missing install is one line naming the `[vllm]` extra.
"""

from __future__ import annotations

from collections.abc import Sequence

from evalsuite.errors import UserError, require
from evalsuite.models.base import OnResult
from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodResult


class VLLMCausalLM:
    ADAPTER = "vllm"
    capabilities = frozenset({"loglikelihood", "generate"})
    module = None  # vLLM owns the weights; jobs needing gradients use `hf`

    def __init__(self, spec: str, *, dtype: str | None = None, trust_remote_code: bool = False,
                 max_length: int | None = None, gpu_memory_utilization: float = 0.5, tensor_parallel_size: int = 1,
                 name: str | None = None, progress: bool = True):
        vllm = require("vllm", "vllm")
        from transformers import AutoTokenizer

        from evalsuite.models.hf_loading import DTYPES, require_local

        self.folder = require_local(spec, "model")
        self.name = name or spec
        self.dtype = DTYPES.get(dtype or "bfloat16", "bfloat16")
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, trust_remote_code=trust_remote_code)
        kwargs = {"max_model_len": max_length} if max_length else {}
        self.llm = vllm.LLM(model=str(self.folder), tokenizer=str(self.folder), dtype=self.dtype, seed=0,
                            trust_remote_code=trust_remote_code, gpu_memory_utilization=gpu_memory_utilization,
                            tensor_parallel_size=tensor_parallel_size, enforce_eager=True, **kwargs)
        self.max_length = self.llm.llm_engine.model_config.max_model_len
        self.show_progress = progress
        self.tokens_processed = 0
        self._fingerprint = None

    @property
    def prefix_token_id(self) -> int:
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def encode_pairs(self, pairs):
        from evalsuite.models.hf import HFCausalLM

        return HFCausalLM.encode_pairs(self, pairs)  # lm-eval's rules, shared with `hf`

    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            from evalsuite.models.hf_loading import folder_fingerprint

            self._fingerprint = folder_fingerprint("vllm", self.name, self.folder, self.dtype,
                                                   max_length=self.max_length)
        return self._fingerprint

    def _params(self, **kw):
        import vllm

        return vllm.SamplingParams(temperature=0.0, **kw)

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_result: OnResult | None = None):
        pairs = self.encode_pairs([(r.context, r.continuation) for r in requests])
        prompts, spans = [], []
        for req, (ctx, cont) in zip(requests, pairs):
            if not cont:
                raise UserError(f"continuation {req.continuation!r} encodes to no tokens; give each choice text")
            ids = (ctx + cont)[-self.max_length:]
            prompts.append({"prompt_token_ids": ids})
            spans.append((ids, len(cont)))
        outputs = self.llm.generate(prompts, self._params(max_tokens=1, prompt_logprobs=1),
                                    use_tqdm=self.show_progress)
        results = []
        for k, (out, (ids, n_cont)) in enumerate(zip(outputs, spans)):
            total, greedy = 0.0, True
            for pos in range(len(ids) - n_cont, len(ids)):
                entry = out.prompt_logprobs[pos]
                chosen = entry[ids[pos]]
                total += chosen.logprob
                greedy = greedy and chosen.rank == 1
            self.tokens_processed += len(ids)
            results.append(LoglikelihoodResult(float(total), greedy, n_cont))
            if on_result:
                on_result(k, results[-1])
        return results

    def loglikelihood_rolling(self, requests, on_result: OnResult | None = None):
        raise UserError("the vllm backend does not score rolling loglikelihoods yet; use the hf backend for "
                        "perplexity tasks")

    def generate(self, requests: Sequence[Generate], on_result: OnResult | None = None):
        from evalsuite.engine.generate import cut_at_stops

        prompts, params = [], []
        for req in requests:  # one batch: vLLM schedules it, each request with its own stops and length
            ids = self.tokenizer.encode(req.prompt, add_special_tokens=False)
            prompts.append({"prompt_token_ids": ids[-max(1, self.max_length - req.max_new_tokens):]})
            params.append(self._params(max_tokens=req.max_new_tokens, stop=list(req.until) or None))
        outputs = self.llm.generate(prompts, params, use_tqdm=self.show_progress)
        texts = []
        for k, (prompt, out) in enumerate(zip(prompts, outputs)):
            text = cut_at_stops(out.outputs[0].text, requests[k].until)
            self.tokens_processed += len(prompt["prompt_token_ids"]) + len(out.outputs[0].token_ids)
            texts.append(text)
            if on_result:
                on_result(k, text)
        return texts
