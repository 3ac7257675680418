"""The typed run configuration every command builds and `evalsuite.run()` takes.

`RunConfig` holds what a run needs and nothing else; `problems()` lists every
value that is out of range, so the runner can report them all at once before any
work starts. Task options (`task_args`) are keyed `key` (every selected task that
declares it) or `task:key` (one task); model options (`model_args`) go to the
model adapter, which declares what it accepts.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_SEED = 2**32 - 1
MAX_RESAMPLES = 1_000_000
MAX_LIMIT = 10**9


@dataclass
class RunConfig:
    model: str
    tasks: list[str]
    tasks_path: list[str] = field(default_factory=list)
    output_dir: str = "evalsuite-results"
    model_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, Any] = field(default_factory=dict)  # "key" or "task:key" -> value (text or typed)
    device: str | None = None
    dtype: str | None = None
    token_budget: int | None = None
    max_length: int | None = None
    trust_remote_code: bool = False
    variant: str | None = None  # a model variant (quantized, pruned, ...): see evalsuite.variants
    limit: int | None = None
    seed: int = 1234
    bootstrap_resamples: int = 1000
    use_cache: bool = True
    # Perturbations to evaluate each task under as well ("typo:0.05", "lowercase", "gender-swap"; see
    # evalsuite.perturb): the unperturbed evaluation is unchanged, robustness metrics join its record.
    perturb: list[str] = field(default_factory=list)
    progress: bool = True

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir)

    def model_flags(self) -> dict:
        """The run-wide model flags (None when not given); the model factory checks the adapter takes them."""
        return {"device": self.device, "dtype": self.dtype, "token_budget": self.token_budget,
                "max_length": self.max_length, "trust_remote_code": self.trust_remote_code}

    def problems(self) -> list[str]:
        """Every value out of range, as one-line messages naming the flag."""
        out = []
        if not self.tasks:
            out.append("no tasks given; pass --tasks NAME[,NAME...] (see: evalsuite list tasks)")
        duplicates = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
        if duplicates:
            out.append(f"--tasks names {', '.join(duplicates)} more than once; give each task once")
        for flag, value, low, high in (("--limit", self.limit, 1, MAX_LIMIT), ("--seed", self.seed, 0, MAX_SEED),
                                       ("--token-budget", self.token_budget, 1, None),
                                       ("--max-length", self.max_length, 1, None),
                                       ("--bootstrap-resamples", self.bootstrap_resamples, 1, MAX_RESAMPLES)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                out.append(f"{flag} must be a whole number, got {value!r}")
            elif value < low or (high is not None and value > high):
                bound = (f"between {low} and {high:,}" if low != 1 else f"a positive number up to {high:,}") \
                    if high is not None else f"at least {low}"
                out.append(f"{flag} must be {bound}, got {value}")
        problem = writable_folder_problem(self.output_path, "--output-dir")
        if problem:
            out.append(problem)
        return out


def writable_folder_problem(path: Path, flag: str) -> str | None:
    """Why results could not be written under `path` (None when they can); creates nothing that stays."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return f"{flag} '{path}' is a file, not a folder; pass a folder path"
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{flag} '{path}': '{probe}' is a file, not a folder; pass a folder path"
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".evalsuite-write-check-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return f"{flag} '{path}' is not writable ({exc.strerror}); pass a folder you can write to"
    return None
