"""Perplexity on held-out documents written in the demo world's grammar."""

from evalsuite import Task, load_records, perplexity, task
from evalsuite.tasks import DATA


@task("demo_heldout_ppl")
def demo_heldout_ppl() -> Task:
    """Token/word perplexity and bits per byte on held-out synthetic documents."""
    return perplexity(load_records(DATA / "demo_heldout.jsonl"), text="text",
                      description="held-out documents, rolling loglikelihood")
