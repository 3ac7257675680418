"""The registered LM and encoder bias probes (`evalsuite run --model M --tasks NAME`).

Built-in data (audits/data/) gives crows_pairs_builtin, bbq_builtin, pronoun_occupation,
counterfactual_<dimension> and seat_builtin. The real benchmarks run from their own files:
crows_pairs_csv and bbq_jsonl take the file with `--task-args path=FILE` (BBQ: a file or a folder),
or build the Task in a --tasks-path file with `crows_pairs_from_csv(path)` / `bbq_from_jsonl(path)`.
"""

from __future__ import annotations

from evalsuite.errors import UserError
from evalsuite.registry import task


def _required_path(path: str | None, task_name: str, what: str) -> str:
    if not path:
        raise UserError(f"task '{task_name}' needs {what}: pass --task-args path=FILE")
    return path


@task("crows_pairs_builtin")
def crows_pairs_builtin():
    """Paired stereotype likelihood over the project's own pairs (gender, race, religion, age, disability)."""
    from evalsuite.audits.crows_pairs import builtin_pairs_task

    return builtin_pairs_task()


@task("crows_pairs_csv")
def crows_pairs_csv(path: str | None = None):
    """CrowS-Pairs from its own CSV file (--task-args path=crows_pairs_anonymized.csv)."""
    from evalsuite.audits.crows_pairs import crows_pairs_from_csv

    return crows_pairs_from_csv(_required_path(path, "crows_pairs_csv", "the CrowS-Pairs CSV file"))


@task("bbq_builtin")
def bbq_builtin():
    """Ambiguous/disambiguated QA bias (S_DIS, S_AMB, accuracy) over the project's own scenarios."""
    from evalsuite.audits.bbq import builtin_bbq_task

    return builtin_bbq_task()


@task("bbq_jsonl")
def bbq_jsonl(path: str | None = None):
    """BBQ from its own JSONL files (--task-args path=FILE_OR_FOLDER)."""
    from evalsuite.audits.bbq import bbq_from_jsonl

    return bbq_from_jsonl(_required_path(path, "bbq_jsonl", "a BBQ .jsonl file or folder"))


@task("pronoun_occupation")
def pronoun_occupation():
    """Occupation-pronoun association: P(she) vs P(he) after 'The <occupation> said that'."""
    from evalsuite.audits.pronoun_probe import builtin_pronoun_task

    return builtin_pronoun_task()


@task("pronoun_occupation_demo")
def pronoun_occupation_demo():
    """The occupation-pronoun probe over the demo world's occupations and planted skew lists."""
    from evalsuite.audits.pronoun_probe import demo_world_pronoun_task

    return demo_world_pronoun_task()


def _counterfactual(dimension: str):
    from evalsuite.audits.counterfactual import counterfactual_job

    return counterfactual_job(dimension)


@task("counterfactual_gender")
def counterfactual_gender():
    """Counterfactual prompts swapping gender terms: outcome-rate and likelihood gaps across groups."""
    return _counterfactual("gender")


@task("counterfactual_race")
def counterfactual_race():
    """Counterfactual prompts swapping race/ethnicity terms."""
    return _counterfactual("race")


@task("counterfactual_religion")
def counterfactual_religion():
    """Counterfactual prompts swapping religion terms."""
    return _counterfactual("religion")


@task("counterfactual_age")
def counterfactual_age():
    """Counterfactual prompts swapping age terms."""
    return _counterfactual("age")


@task("counterfactual_disability")
def counterfactual_disability():
    """Counterfactual prompts swapping disability terms."""
    return _counterfactual("disability")


@task("seat_builtin")
def seat_builtin():
    """SEAT/WEAT association tests for sentence encoders (hf-encoder:PATH): effect size and p-value."""
    from evalsuite.audits.weat import seat_job

    return seat_job()
