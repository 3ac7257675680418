"""evalsuite: a Responsible-AI evaluation and benchmarking suite.

Light on import: heavy dependencies (torch, transformers, lm-eval) load only
when a model or an lm-eval task is actually used.
"""

from evalsuite.config import RunConfig
from evalsuite.jobs import Job, JobContext, JobOutcome
from evalsuite.registry import REGISTRY, audit, explainer, metric, model, privacy, task
from evalsuite.task_types import (HIGHER, LOWER, Direction, MetricSpec, Task, generation, ideal, load_records,
                            multiple_choice, perplexity)

__version__ = "0.1.0"


def run(config: RunConfig | None = None, **kwargs) -> dict:
    """Run an evaluation: `evalsuite.run(model="demo", tasks=["demo_facts_mc"])`."""
    from evalsuite.runner import run as _run

    return _run(config or RunConfig(**kwargs))


__all__ = ["REGISTRY", "RunConfig", "Task", "MetricSpec", "Direction", "HIGHER", "LOWER", "ideal", "task", "model",
           "metric", "audit", "explainer", "privacy", "multiple_choice", "perplexity", "generation", "load_records",
           "run", "Job", "JobContext", "JobOutcome"]
