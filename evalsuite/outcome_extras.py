"""What a benchmark task's outcome gains after its own metrics, before its record is written.

Calibration of multiple-choice answers, always (evalsuite.calibration: from the choice
loglikelihoods the evaluation already has, so it costs no model call), and robustness under
`--perturb`, when asked (evalsuite.perturb.evaluate: the task again on rewritten prompts).
The runner calls `finish_outcome` for every task; jobs pass through untouched.
"""

from __future__ import annotations

import time
from pathlib import Path


def finish_outcome(outcome: dict, task, plan, model, cache, folder: Path, manifest: dict, echo) -> None:
    """Add calibration and (with `plan.perturbations`) robustness metrics to `outcome`; note the arms in `manifest`."""
    from evalsuite.calibration import add_calibration

    config = plan.config
    add_calibration(outcome, folder, title=task.name, seed=config.seed, n_resamples=config.bootstrap_resamples)
    state = outcome.pop("state", None)
    if plan.perturbations:
        from evalsuite.perturb.evaluate import add_robustness

        t0 = time.perf_counter()
        add_robustness(outcome, task, state, model, cache, plan, echo)
        manifest["perturbations"] = {"seed": config.seed, "arms": [a.to_json() for a in plan.perturbations],
                                     "wall_time_s": round(time.perf_counter() - t0, 3)}
