"""Jobs (tasks that run against the adapter) land as the same records in the same store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from evalsuite import Job, JobOutcome, RunConfig
from evalsuite.errors import UserError
from evalsuite.models.classifiers import TorchClassifier
from evalsuite.records import metric_entry
from evalsuite.runner import run
from evalsuite.store import ResultsStore
from evalsuite.task_types import ideal


def _positive_rate_job(seen: dict) -> Job:
    def run(model, ctx):
        probs = model.classify(np.eye(3))
        seen["options"], seen["seed"] = ctx.options, ctx.seed
        (ctx.artifacts_dir / "probs.json").write_text(json.dumps(probs.tolist()))
        rate = float((probs[:, 1] > 0.5).mean())
        return JobOutcome(metrics={"positive_rate": metric_entry(rate, ideal(0.5).to_json(), None, "none", 3)},
                          samples=[{"doc_id": i, "scores": {"p": float(p)}} for i, p in enumerate(probs[:, 1])],
                          data_hash="eye3", artifacts={"probabilities": "probs.json"}, details={"k": 3})

    return Job(run=run, category="fairness", requires=("classify",))


def test_job_record_lands_in_store(tmp_path):
    lin = torch.nn.Linear(3, 1)
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[1.0, -1.0, 2.0]])
        lin.bias.zero_()
    seen = {}
    config = RunConfig(model="lin", tasks=["rate"], output_dir=str(tmp_path), task_args={"rate:x": 1}, seed=7,
                       progress=False)
    summary = run(config, model=TorchClassifier(lin, name="lin"), specs={"rate": _positive_rate_job(seen)})
    record = json.loads(open(summary["records"]["rate"]).read())
    assert record["category"] == "fairness" and record["details"] == {"k": 3}
    assert record["metrics"]["positive_rate"]["value"] == pytest.approx(2 / 3)  # units 0 and 2 are positive
    assert record["metrics"]["positive_rate"]["direction"] == "ideal"
    assert seen == {"options": {"x": 1}, "seed": 7}
    folder = tmp_path / "runs" / summary["run_id"] / "rate"
    assert (folder / record["artifacts"]["probabilities"]).is_file()
    store = ResultsStore(tmp_path / "index.sqlite")
    row = store.db.execute("SELECT value, direction, ideal FROM metrics WHERE task='rate'").fetchone()
    assert tuple(row) == (pytest.approx(2 / 3), "ideal", 0.5)
    assert store.find_run("latest")["status"] == "complete"


def test_job_refuses_a_model_without_what_it_needs(tmp_path):
    class NoClassify:
        name = "lm-only"

        def fingerprint(self):
            return {"model": "lm-only"}

    config = RunConfig(model="lm-only", tasks=["rate"], output_dir=str(tmp_path), progress=False)
    with pytest.raises(UserError, match="needs a model with classify"):
        run(config, model=NoClassify(), specs={"rate": _positive_rate_job({})})
    assert not list((tmp_path / "runs").glob("*"))  # nothing half-written
