"""Reading comprehension: a long paragraph about unseen people, then a 4-way question."""

from evalsuite import Task, load_records, multiple_choice, task
from evalsuite.tasks import DATA


@task("demo_story_mc")
def demo_story_mc() -> Task:
    """Multiple choice answered from a long context (shared by all choices)."""
    return multiple_choice(load_records(DATA / "demo_story_mc.jsonl"), context="context", choices="choices",
                           answer="answer", description="in-context reading, 4-way multiple choice")
