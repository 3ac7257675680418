"""`fairness_audit`: group fairness of a classifier's decisions on a table, as a task of `evalsuite run`.

    evalsuite run --model sklearn:screening.skops --tasks fairness_audit \
        --task-args "data=applicants.csv,label=hired,protected=sex|race,privileged=sex=1,mitigate=thresholds"

`evalsuite audit` is a preset over exactly this task (same record name, seed and store). Lists
(protected, features, mitigate, privileged) are separated by '|' because ',' separates the task
args. The table is read and its column roles checked when the task is built (a missing or
repeated column, the label also named as a protected attribute, a value that does not occur),
before the model loads; every problem is reported at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from evalsuite.errors import UserError
from evalsuite.jobs import Job
from evalsuite.options import Option
from evalsuite.registry import task


@task("fairness_audit")
def fairness_audit(
        data: Annotated[str, Option("the audited table (.csv or .parquet)")],
        label: Annotated[str, Option("the true-label column")],
        protected: Annotated[list[str], Option("protected attribute column(s); two or more also give their "
                                               "intersection")],
        privileged: Annotated[list[str] | None, Option("COLUMN=VALUE: the privileged value of a protected column "
                                                       "(default: the most selected group)")] = None,
        favorable: Annotated[str | None, Option("the favorable label value (required unless labels are 0/1)")] = None,
        features: Annotated[list[str] | None, Option("feature columns given to the model (default: all but the "
                                                     "label, or those the estimator was fitted on)")] = None,
        text: Annotated[str | None, Option("text column for a text classifier (hf-classifier)")] = None,
        min_group_size: Annotated[int, Option("warn about groups with fewer rows", min=1)] = 30,
        mitigate: Annotated[list[str] | None, Option("mitigations side by side: reweighing and/or thresholds")] = None,
        train_data: Annotated[str | None, Option("training/calibration table for mitigations (default: a seeded "
                                                 "half of data)")] = None,
        threshold_target: Annotated[Literal["selection_rate", "tpr"], Option("what group thresholds "
                                                                             "equalize")] = "selection_rate") -> Job:
    """Group fairness of a classifier's decisions on a table (aif360 metrics, per-group rates, bootstrap CIs)."""
    from evalsuite.audits.mitigation import MITIGATIONS
    from evalsuite.audits.tabular_inputs import column_problems, prepare
    from evalsuite.task_types import load_table

    frame = load_table(data)  # read now: a bad path fails before the model loads
    train = load_table(train_data) if train_data else None
    mitigate = list(mitigate or [])
    problems = column_problems(frame, label=label, protected=protected, privileged=privileged, features=features,
                               text=text)
    unknown = [m for m in mitigate if m not in MITIGATIONS]
    if unknown:
        problems.append(f"unknown mitigation {', '.join(unknown)}; use {', '.join(MITIGATIONS)}")
    if train is not None and not mitigate:
        problems.append("training data is only used by mitigations; add mitigate (--mitigate) or drop train_data")
    if problems:
        raise UserError("; ".join(problems))
    prepare(frame, label=label, protected=protected, privileged=privileged, favorable=favorable)  # values checked

    def run(model, ctx):
        from evalsuite.audits.tabular_audit import audit_classifier

        echo = ctx.echo if ctx.progress else None
        result = audit_classifier(model, frame, label=label, protected=list(protected), privileged=privileged or [],
                                  favorable=favorable, features=features or None, text=text,
                                  min_group_size=min_group_size, mitigate=mitigate, train=train,
                                  threshold_target=threshold_target, n_resamples=ctx.bootstrap_resamples,
                                  seed=ctx.seed, echo=echo or (lambda message: None))
        if echo is not None:
            echo(result.table())
        return result.to_outcome(ctx.artifacts_dir)

    return Job(run=run, category="fairness", requires=("classify",),
               description="classifier fairness audit over a table (options as evalsuite audit)")
