"""Closed-book multiple choice about facts of the synthetic demo world."""

from evalsuite import Task, load_records, multiple_choice, task
from evalsuite.tasks import DATA


@task("demo_facts_mc")
def demo_facts_mc() -> Task:
    """Multiple choice on world facts the demo model was trained on (4 choices)."""
    return multiple_choice(load_records(DATA / "demo_facts_mc.jsonl"), context="context", choices="choices",
                           answer="answer", description="closed-book facts, 4-way multiple choice")
