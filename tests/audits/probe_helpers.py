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


def run_task(model, spec, folder, name="probe"):
    """Evaluate a ready-built Task or Job with a ready adapter through `evalsuite.run`; returns (record, samples)."""
    import json
    from pathlib import Path

    from evalsuite.config import RunConfig
    from evalsuite.runner import run

    config = RunConfig(model=model.name, tasks=[name], output_dir=str(folder), use_cache=False, progress=False,
                       bootstrap_resamples=500)
    summary = run(config, model=model, specs={name: spec}, echo=lambda m: None)
    path = Path(folder) / summary["records"][name]
    record = json.loads(path.read_text())
    samples = [json.loads(line) for line in path.with_name("samples.jsonl").read_text().splitlines()]
    return record, samples
