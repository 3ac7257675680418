"""Jobs: tasks that need more than scored requests (audits, explanations, privacy).

A benchmark `Task` is requests in, per-sample scores out, and the runner does
the rest. Bias audits, attribution explanations and DP fine-tuning need the
adapter itself (its classifier, encoder, torch module or tokenizer), write
plots and pages next to the record, and compute their own metrics and CIs. A
task plugin returns a `Job` for those:

    @task("my_audit")
    def my_audit() -> Job:
        return Job(run=audit_fn, category="fairness", requires=("classify",))

`run(model, ctx)` returns a `JobOutcome`; the runner writes it as the same
record type (metrics with direction and CI, manifest, samples), so leaderboards
and gates read jobs and benchmarks alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError

# Leaderboard categories a record may belong to.
# calibration and robustness are also categories of single metrics of a benchmark record (the metric's "category").
CATEGORIES = ("capability", "calibration", "robustness", "fairness", "explainability", "privacy", "efficiency")


@dataclass
class JobContext:
    """What a job gets from the runner besides the model."""

    artifacts_dir: Path  # the record's own folder: plots, pages and checkpoints go here
    seed: int = 1234
    limit: int | None = None
    bootstrap_resamples: int = 1000
    cache: Any = None  # the RequestCache, for jobs that send requests through `evalsuite.answering.answer`
    progress: bool = True
    echo: Callable[[str], None] = print
    options: dict = field(default_factory=dict)  # job options from the caller (e.g. `evalsuite audit` flags)


@dataclass
class JobOutcome:
    """A job's results: metrics as `records.metric_entry` dicts, per-sample rows, provenance."""

    metrics: dict[str, dict]
    samples: list[dict]
    data_hash: str
    artifacts: dict[str, str] = field(default_factory=dict)  # label -> file name inside artifacts_dir
    details: dict = field(default_factory=dict)  # extra record fields, e.g. a privacy record or per-group rates
    headline: str | None = None  # the metric the one-row results table shows (default: the first)


@dataclass
class Job:
    """A task that runs itself against the adapter."""

    run: Callable[[Any, JobContext], JobOutcome]
    category: str = "capability"
    requires: Sequence[str] = ()  # adapter methods/attributes the job needs, e.g. ("classify",) or ("module",)
    description: str = ""
    version: str = "1"
    name: str = ""
    check: Callable[[Any], None] | None = None  # more checks of the model, run before anything is written

    def check_model(self, model, task_name: str) -> None:
        missing = [r for r in self.requires if getattr(model, r, None) is None]
        if missing:
            raise UserError(f"task '{task_name}' needs a model with {', '.join(missing)}; "
                            f"'{getattr(model, 'name', model)}' has none (pick a model of the right kind)")
        if self.check is not None:
            try:
                self.check(model)
            except UserError as exc:
                raise UserError(f"task '{task_name}': {exc}") from None
