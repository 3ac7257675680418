"""A run killed with SIGKILL does not stay `running` forever: the next run marks it interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from evalsuite.cli import main

SLOW_TASKS = '''
import time
from pathlib import Path

from evalsuite import Job, Task, multiple_choice, task

@task("quick_mc")
def quick_mc() -> Task:
    return multiple_choice([{"q": "the cat sat on the", "c": [" mat", " violin"], "a": 0}], context="q",
                           choices="c", answer="a")

@task("stuck_job")
def stuck_job(marker: str) -> Job:
    def run(model, ctx):
        Path(marker).write_text("started")
        time.sleep(120)
    return Job(run=run, category="capability")
'''


def test_a_killed_run_is_marked_interrupted_by_the_next_one(tmp_path, tiny_lm, capsys):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "slow.py").write_text(textwrap.dedent(SLOW_TASKS))
    marker, out = tmp_path / "started", tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "evalsuite", "run", "--model", str(tiny_lm), "--tasks",
                             "quick_mc,stuck_job", "--tasks-path", str(folder), "--task-args", f"marker={marker}",
                             "--output-dir", str(out), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "the run never reached its second task"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    (killed,) = out.glob("runs/*/run.json")
    assert json.loads(killed.read_text())["status"] == "running"  # what a kill leaves behind

    assert main(["run", "--model", str(tiny_lm), "--tasks", "quick_mc", "--tasks-path", str(folder),
                 "--output-dir", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert json.loads(killed.read_text())["status"] == "interrupted"
    assert main(["show", "--list", "--output-dir", str(out)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[1] for line in listing) == ["complete", "interrupted"]
    # the finished record of the killed run is kept and still readable
    run_id = killed.parent.name
    assert main(["show", run_id, "--output-dir", str(out)]) == 0
    assert "quick_mc" in capsys.readouterr().out
