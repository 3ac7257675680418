"""`EvalsuiteLM`: lm-eval's `LM` interface implemented on an evalsuite adapter.

lm-eval keeps doing what it is good at (YAML task configs, Jinja prompts,
few-shot sampling, filters, metrics, groups); every model call it makes is
answered by evalsuite's engine, with its batching, shared contexts, request
cache and fingerprinting. lm-eval's own progress bars and logging follow the run's
output rules (evalsuite.progress).
"""

from __future__ import annotations

from lm_eval.api.model import LM

from evalsuite import progress
from evalsuite.answering import answer
from evalsuite.errors import UserError
from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodRolling

DEFAULT_MAX_GEN_TOKS = 256


class EvalsuiteLM(LM):
    def __init__(self, model, cache=None, rewrite=None):
        super().__init__()
        self.model = model
        self.cache = cache
        self.rewrite = rewrite  # (instances, requests) -> requests: evalsuite.perturb rewrites prompts here
        progress.attach("lm_eval")  # the run's output rules (no git "fatal: ..." line) while lm-eval runs

    @property
    def tokenizer_name(self) -> str:
        return str(self.model.name).replace("/", "__")

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        asked = self._rewritten(requests, [Loglikelihood(*req.args) for req in requests])
        return [(r.logprob, r.is_greedy) for r in answer(self.model, asked, self.cache)]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        asked = self._rewritten(requests, [LoglikelihoodRolling(req.args[0]) for req in requests])
        return [r.logprob for r in answer(self.model, asked, self.cache)]

    def generate_until(self, requests, disable_tqdm: bool = False):
        asked = []
        for req in requests:
            context, kwargs = req.args
            kwargs = dict(kwargs or {})
            if kwargs.get("do_sample") or (kwargs.get("temperature") or 0) > 0:
                raise UserError("this task samples (do_sample/temperature > 0); evalsuite generates greedily, "
                                "set do_sample: false in the task's generation_kwargs")
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            asked.append(Generate(context, tuple(until), int(kwargs.get("max_gen_toks", DEFAULT_MAX_GEN_TOKS))))
        return answer(self.model, self._rewritten(requests, asked), self.cache)

    def _rewritten(self, instances, asked):
        return asked if self.rewrite is None else self.rewrite(list(instances), asked)
