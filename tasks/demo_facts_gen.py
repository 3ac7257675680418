"""Short-answer generation about facts of the demo world, scored by exact match."""

from evalsuite import Task, generation, load_records, task
from evalsuite.tasks import DATA


@task("demo_facts_gen")
def demo_facts_gen() -> Task:
    """Greedy short answers to fact questions, exact match after stripping."""
    return generation(load_records(DATA / "demo_facts_gen.jsonl"), prompt="prompt", answer="answer",
                      until=("\n",), max_new_tokens=16, description="closed-book short answers, exact match")
