"""The built-in ``demo`` model: a tiny GPT-style LM trained on a synthetic world.

It lets the suite's main job run fully offline. ``world`` builds a seeded world of
invented people, ``corpus`` writes documents about it, ``train`` trains the tokenizer
and model (``python -m evalsuite.demo.train``) into ``WEIGHTS_DIR``, and
``make_task_data`` writes the built-in tasks' JSONL files from the same world.
"""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
