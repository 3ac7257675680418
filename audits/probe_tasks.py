"""The registered LM and encoder bias probes (`evalsuite run --model M --tasks NAME`).

Built-in data (audits/data/) gives crows_pairs_builtin, bbq_builtin, pronoun_occupation,
counterfactual_<dimension> and seat_builtin. The real benchmarks run from their own files:
crows_pairs_csv and bbq_jsonl take the file with `--task-args path=FILE` (BBQ: a file or a folder),
or build the Task in a --tasks-path file with `crows_pairs_from_csv(path)` / `bbq_from_jsonl(path)`.
Every option is typed (`evalsuite describe TASK`); data files are read when the task is built,
before the model loads.
"""

from __future__ import annotations

from typing import Annotated, Literal

from evalsuite.options import Option
from evalsuite.registry import task

CounterfactualData = Annotated[str | None, Option("counterfactual YAML: dimensions (dimension -> group -> terms) "
                                                  "and templates (default: the built-in data)")]


@task("crows_pairs_builtin")
def crows_pairs_builtin():
    """Paired stereotype likelihood over the project's own pairs (gender, race, religion, age, disability)."""
    from evalsuite.audits.crows_pairs import builtin_pairs_task

    return builtin_pairs_task()


@task("crows_pairs_csv")
def crows_pairs_csv(path: Annotated[str, Option("the CrowS-Pairs CSV file (crows_pairs_anonymized.csv)")]):
    """CrowS-Pairs from its own CSV file (--task-args path=crows_pairs_anonymized.csv)."""
    from evalsuite.audits.crows_pairs import crows_pairs_from_csv

    return crows_pairs_from_csv(path)


@task("bbq_builtin")
def bbq_builtin():
    """Ambiguous/disambiguated QA bias (S_DIS, S_AMB, accuracy) over the project's own scenarios."""
    from evalsuite.audits.bbq import builtin_bbq_task

    return builtin_bbq_task()


@task("bbq_jsonl")
def bbq_jsonl(path: Annotated[str, Option("a BBQ .jsonl file, or a folder of them")]):
    """BBQ from its own JSONL files (--task-args path=FILE_OR_FOLDER)."""
    from evalsuite.audits.bbq import bbq_from_jsonl

    return bbq_from_jsonl(path)


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


def _counterfactual(dimension: str, data: str | None):
    from evalsuite.audits.counterfactual import counterfactual_job

    return counterfactual_job(dimension, data)


@task("counterfactual_gender")
def counterfactual_gender(data: CounterfactualData = None):
    """Counterfactual prompts swapping gender terms: outcome-rate and likelihood gaps across groups."""
    return _counterfactual("gender", data)


@task("counterfactual_race")
def counterfactual_race(data: CounterfactualData = None):
    """Counterfactual prompts swapping race/ethnicity terms."""
    return _counterfactual("race", data)


@task("counterfactual_religion")
def counterfactual_religion(data: CounterfactualData = None):
    """Counterfactual prompts swapping religion terms."""
    return _counterfactual("religion", data)


@task("counterfactual_age")
def counterfactual_age(data: CounterfactualData = None):
    """Counterfactual prompts swapping age terms."""
    return _counterfactual("age", data)


@task("counterfactual_disability")
def counterfactual_disability(data: CounterfactualData = None):
    """Counterfactual prompts swapping disability terms."""
    return _counterfactual("disability", data)


@task("seat_builtin")
def seat_builtin(
        tests: Annotated[list[str] | None, Option("SEAT tests to run (default: every test in the data)")] = None,
        data: Annotated[str | None, Option("SEAT YAML: tests (X, Y, A, B word lists) and templates "
                                           "(default: the built-in tests)")] = None,
        ddof: Annotated[Literal[0, 1], Option("ddof of the effect size's standard deviation (1: sample)")] = 1,
        permutations: Annotated[int, Option("sampled partitions for the p-value when exact enumeration is too "
                                            "large", min=1, max=10**7)] = 10000):
    """SEAT/WEAT association tests for sentence encoders (hf-encoder:PATH): effect size and p-value."""
    from evalsuite.audits.weat import seat_job

    return seat_job(tests=tests or None, path=data, ddof=ddof, permutations=permutations)
