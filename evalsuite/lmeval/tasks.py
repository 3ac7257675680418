"""Finding and running lm-eval tasks (YAML, groups, a user's --tasks-path folders).

lm-eval is imported only here and only when a task is not a native one, so
`evalsuite --help` and `evalsuite list` stay light.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import yaml

from evalsuite.errors import UserError, require


class _LenientLoader(yaml.SafeLoader):
    """Accepts lm-eval's custom tags (`!function`) so only real syntax errors fail."""


_LenientLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def check_yaml_files(paths: list[str]) -> None:
    """Fail early, in one line, on a malformed task YAML in a user's folder."""
    for folder in paths:
        for file in sorted(Path(folder).rglob("*.yaml")) + sorted(Path(folder).rglob("*.yml")):
            try:
                content = yaml.load(file.read_text(encoding="utf-8"), Loader=_LenientLoader)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" line {mark.line + 1}" if mark else ""
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise UserError(f"malformed YAML in '{file}'{where}: {problem}; fix the file") from None
            if not isinstance(content, dict):
                raise UserError(f"malformed task YAML '{file}': expected a mapping of task options; fix the file")


class LMEvalTasks:
    """A lazily built lm-eval TaskManager over its own tasks and the user's folders."""

    def __init__(self, include_paths: list[str]):
        self.include_paths = include_paths
        self._manager = None

    @property
    def manager(self):
        if self._manager is None:
            require("lm_eval", "lm-eval")
            from lm_eval.tasks import TaskManager

            check_yaml_files(self.include_paths)
            logging.getLogger("lm_eval").setLevel(logging.ERROR)
            self._manager = TaskManager(include_path=self.include_paths or None)
        return self._manager

    def has(self, name: str) -> bool:
        return name in self.manager.all_tasks

    def names(self) -> list[str]:
        return list(self.manager.all_tasks)


def run_lmeval_task(name: str, model, cache, tasks: LMEvalTasks, *, limit: int | None, seed: int) -> dict:
    """Evaluate one lm-eval task or group on `model`; returns metrics, samples and hashes."""
    from lm_eval import evaluator

    from evalsuite.fingerprint import sha256_json
    from evalsuite.lmeval.bridge import EvalsuiteLM

    try:
        out = evaluator.simple_evaluate(
            model=EvalsuiteLM(model, cache), tasks=[name], task_manager=tasks.manager, limit=limit,
            log_samples=True, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
            fewshot_random_seed=seed, verbosity="ERROR",
        )
    except FileNotFoundError as exc:
        raise UserError(f"lm-eval task '{name}': data file not found ({exc}); check data_files in its YAML") from None
    except ConnectionError as exc:  # datasets' own class derives from the builtin one
        raise UserError(f"lm-eval task '{name}' needs data that is not available offline ({exc}); download it into "
                        "the Hugging Face cache first, or copy the task's YAML to --tasks-path with local "
                        "data_files") from None
    except (ValueError, KeyError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if _looks_like_data_problem(message):
            raise UserError(f"lm-eval task '{name}' could not load its data: {message}; check the task's "
                            "dataset settings") from None
        raise
    return _collect(name, out, sha256_json)


def _looks_like_data_problem(message: str) -> bool:
    return bool(re.search(r"data|file|split|path|dataset", message, re.IGNORECASE))


def _collect(name: str, out: dict, sha256_json) -> dict:
    metrics = {}
    higher = out.get("higher_is_better", {})
    for task_name, values in out["results"].items():
        prefix = "" if task_name == name else f"{task_name}/"
        n = out.get("n-samples", {}).get(task_name, {}).get("effective")
        for key, value in values.items():
            if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            stderr = values.get(f"{metric}_stderr,{filt}")
            label = prefix + (metric if filt == "none" else f"{metric},{filt}")
            better = higher.get(task_name, {}).get(metric)
            ci = None
            if isinstance(stderr, (int, float)):
                ci = (value - 1.96 * stderr, value + 1.96 * stderr)
            metrics[label] = {"value": float(value),
                              "direction": "higher" if better is not False else "lower", "ideal": None,
                              "ci": list(ci) if ci else None,
                              "ci_method": "lm-eval stderr, normal approximation" if ci else "none",
                              "confidence": 0.95, "n": n}
    samples = []
    for task_name, rows in out.get("samples", {}).items():
        for row in rows:
            samples.append({"task": task_name, "doc_id": row["doc_id"], "doc_hash": row.get("doc_hash"),
                            "target": row.get("target"), "resps": row.get("resps"),
                            "filtered_resps": row.get("filtered_resps"),
                            "scores": {m: row[m] for m in row.get("metrics", []) if m in row}})
    doc_hashes = sorted(str(s["doc_hash"]) for s in samples)
    return {"metrics": metrics, "samples": samples, "task_hash": sha256_json(out.get("configs", {})),
            "data_hash": sha256_json(doc_hashes)}
