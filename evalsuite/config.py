"""The typed run configuration the CLI builds and `evalsuite.run()` takes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class RunConfig:
    model: str
    tasks: list[str]
    tasks_path: list[str] = field(default_factory=list)
    output_dir: str = "evalsuite-results"
    model_args: dict = field(default_factory=dict)
    device: str | None = None
    dtype: str | None = None
    token_budget: int | None = None
    max_length: int | None = None
    trust_remote_code: bool = False
    limit: int | None = None
    seed: int = 1234
    bootstrap_resamples: int = 1000
    use_cache: bool = True
    progress: bool = True
    job_options: dict = field(default_factory=dict)  # passed to Job tasks as JobContext.options

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir)

    def adapter_options(self) -> dict:
        options = {k: v for k, v in (("device", self.device), ("dtype", self.dtype),
                                     ("token_budget", self.token_budget), ("max_length", self.max_length))
                   if v is not None}
        if self.trust_remote_code:
            options["trust_remote_code"] = True
        options["progress"] = self.progress
        return {**options, **self.model_args}
