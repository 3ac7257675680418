"""`fairness_audit` as a task: the tabular fairness audit inside `evalsuite run`, beside benchmarks.

    evalsuite run --model sklearn:screening.joblib --tasks fairness_audit \
        --task-args "data=applicants.csv,label=hired,protected=sex|race,privileged=sex=1,mitigate=thresholds"

The options are those of `evalsuite audit`; lists (protected, features, mitigate, privileged) are
separated by '|' because ',' separates the task args. The record is the same fairness record
`evalsuite audit` writes, with the run's seed and bootstrap resamples.
"""

from __future__ import annotations

from evalsuite.errors import UserError
from evalsuite.jobs import Job
from evalsuite.registry import task


def _items(text: str | None) -> list[str]:
    return [t.strip() for t in str(text or "").split("|") if t.strip()]


@task("fairness_audit")
def fairness_audit(data: str | None = None, label: str | None = None, protected: str | None = None,
                   privileged: str | None = None, favorable: str | None = None, features: str | None = None,
                   text: str | None = None, min_group_size: str | int = 30, mitigate: str | None = None,
                   train_data: str | None = None, threshold_target: str = "selection_rate") -> Job:
    """Group fairness of a classifier's decisions on a table (the `evalsuite audit` audit, as a task)."""
    missing = [name for name, value in (("data", data), ("label", label), ("protected", protected)) if not value]
    if missing:
        raise UserError(f"task 'fairness_audit' needs {', '.join(missing)}: pass --task-args "
                        "data=FILE,label=COLUMN,protected=COLUMN[|COLUMN]")
    try:
        min_size = int(min_group_size)
    except ValueError:
        raise UserError(f"min_group_size must be a whole number, got '{min_group_size}'") from None
    from evalsuite.task_types import load_table

    frame = load_table(data)  # read now: a bad path fails before the model loads
    train = load_table(train_data) if train_data else None

    def run(model, ctx):
        from evalsuite.audits.tabular_audit import audit_classifier

        result = audit_classifier(model, frame, label=label, protected=_items(protected),
                                  privileged=_items(privileged), favorable=favorable,
                                  features=_items(features) or None, text=text, min_group_size=min_size,
                                  mitigate=_items(mitigate), train=train, threshold_target=threshold_target,
                                  n_resamples=ctx.bootstrap_resamples, seed=ctx.seed,
                                  echo=ctx.echo if ctx.progress else None)
        return result.to_outcome(ctx.artifacts_dir)

    return Job(run=run, category="fairness", requires=("classify",),
               description="classifier fairness audit over a table (options as evalsuite audit)")
