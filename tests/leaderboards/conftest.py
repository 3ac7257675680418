"""Fixtures for the leaderboard tests: a real demo run (record builders live in lb_records.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory) -> tuple[Path, str]:
    """A real `evalsuite.run` of the demo model (40 facts questions): the results folder and run id."""
    import evalsuite

    out = tmp_path_factory.mktemp("demo_results")
    summary = evalsuite.run(model="demo", tasks=["demo_facts_mc"], limit=40, output_dir=str(out), progress=False)
    return out, summary["run_id"]
