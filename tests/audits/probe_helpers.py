"""Helpers for the probe tests: a fake LM with planted log-likelihoods, and running a Task/Job to a record."""

from __future__ import annotations


class FakeLM:
    """A language-model adapter whose log-likelihoods come from a Python function: planted ground truth.

    `score(context, continuation)` gives log P(continuation | context); rolling requests use
    score("", text).
    """

    capabilities = frozenset({"loglikelihood", "loglikelihood_rolling"})

    def __init__(self, score, name="fake-lm"):
        self.score, self.name = score, name

    def fingerprint(self):
        return {"adapter": "fake", "model": self.name}

    def loglikelihood(self, requests, on_result=None):
        from evalsuite.requests import LoglikelihoodResult

        return [LoglikelihoodResult(float(self.score(r.context, r.continuation)), False, 1) for r in requests]

    def loglikelihood_rolling(self, requests, on_result=None):
        from evalsuite.requests import RollingResult

        return [RollingResult(float(self.score("", r.text)), 1) for r in requests]


def run_task(model, spec, folder, name="probe", **options):
    """Evaluate a ready-built Task or Job through run_resolved; returns (record, samples)."""
    import json

    from evalsuite.config import RunConfig
    from evalsuite.runner import ResolvedTask, run_resolved

    config = RunConfig(model=model.name, tasks=[name], output_dir=str(folder), use_cache=False, progress=False,
                       bootstrap_resamples=500, job_options=options)
    summary = run_resolved(model, [ResolvedTask(name, "native", spec=spec)], config, echo=lambda m: None)
    path = summary["records"][name]
    record = json.loads(open(path).read())
    samples = [json.loads(line) for line in open(path.replace("record.json", "samples.jsonl"))]
    return record, samples
