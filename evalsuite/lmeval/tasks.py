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
from evalsuite.records import read_yaml


class _LenientLoader(yaml.SafeLoader):
    """Accepts lm-eval's custom tags (`!function`) so only real syntax errors fail."""


_LenientLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def check_yaml_files(paths: list[str]) -> None:
    """Fail early, in one line, on a malformed task YAML in a user's folder."""
    for folder in paths:
        for file in sorted(Path(folder).rglob("*.yaml")) + sorted(Path(folder).rglob("*.yml")):
            content = read_yaml(file, what="task YAML", loader=_LenientLoader)
            if not isinstance(content, dict):
                raise UserError(f"malformed task YAML '{file}': expected a mapping of task options; fix the file")
            problems = _yaml_type_problems(content)
            if problems:
                raise UserError(f"malformed task YAML '{file}': {'; '.join(problems)}; fix the file")


# lm-eval's request types (lm_eval.api.task.ALL_OUTPUT_TYPES), and the keys whose type its loader assumes.
OUTPUT_TYPES = ("loglikelihood", "loglikelihood_rolling", "multiple_choice", "generate_until")
_TEXT_KEYS = ("task", "dataset_path", "dataset_name", "test_split", "validation_split", "train_split",
              "fewshot_split", "description", "target_delimiter", "fewshot_delimiter")


def _yaml_type_problems(content: dict) -> list[str]:
    """Wrong types lm-eval would only trip over mid-run, with a traceback."""
    problems = []
    output_type = content.get("output_type")
    if output_type is not None and output_type not in OUTPUT_TYPES:
        problems.append(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
    metrics = content.get("metric_list")
    if metrics is not None and (not isinstance(metrics, list)
                                or not all(isinstance(m, dict) and isinstance(m.get("metric"), str) for m in metrics)):
        problems.append("metric_list must be a list of mappings, each with a 'metric' name (e.g. - metric: acc)")
    for key in _TEXT_KEYS:
        value = content.get(key)
        if value is not None and not isinstance(value, str) and not (key == "task" and isinstance(value, list)):
            problems.append(f"{key} must be text, got {value!r}")
    shots = content.get("num_fewshot")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 0):
        problems.append(f"num_fewshot must be a whole number >= 0, got {shots!r}")
    return problems


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


def run_lmeval_task(name: str, model, cache, tasks: LMEvalTasks, *, limit: int | None, seed: int,
                    n_resamples: int = 1000, rewrite=None) -> dict:
    """Evaluate one lm-eval task or group on `model`; returns metrics, samples and hashes.

    `rewrite(instances, requests) -> requests` rewrites every request before it is answered (--perturb).
    """
    from lm_eval import evaluator

    from evalsuite.fingerprint import sha256_json
    from evalsuite.lmeval.bridge import EvalsuiteLM

    try:
        out = evaluator.simple_evaluate(
            model=EvalsuiteLM(model, cache, rewrite=rewrite), tasks=[name], task_manager=tasks.manager, limit=limit,
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
    return _collect(name, out, sha256_json, seed=seed, n_resamples=n_resamples)


def aggregation_of(out: dict, task: str, metric: str) -> str | None:
    """The name of lm-eval's aggregation of `metric` in `task`: the task's metric_list, else lm-eval's default."""
    for spec in (out.get("configs", {}).get(task, {}) or {}).get("metric_list") or []:
        if isinstance(spec, dict) and spec.get("metric") == metric and isinstance(spec.get("aggregation"), str):
            return spec["aggregation"]
    try:
        from lm_eval.api.registry import get_metric_aggregation

        found = get_metric_aggregation(metric)
    except Exception:  # an unknown metric: lm-eval logs and returns None, older versions raise
        return None
    return getattr(found, "__name__", None)


def _leaves(out: dict, task: str) -> list[str]:
    """`task` itself when it has samples, else the tasks under it (a group's subtasks, recursively)."""
    if task in out.get("samples", {}):
        return [task]
    found = []
    for sub in (out.get("group_subtasks") or {}).get(task, []):
        found += [leaf for leaf in _leaves(out, sub) if leaf not in found]
    return found


def _per_sample(out: dict, task: str, filt: str, metric: str) -> tuple[list, object, str | None]:
    """(values, strata, aggregation) of a metric from lm-eval's logged samples.

    A group's metric pools its subtasks' rows (strata: the subtask of each row), and counts as a mean only
    when every subtask aggregates by mean; sample_interval then checks that the pooled mean is the group's
    reported value (lm-eval's size-weighted group mean), so other group weightings get no interval.
    """
    import numpy as np

    leaves = _leaves(out, task)
    values, strata = [], []
    for i, leaf in enumerate(leaves):
        for row in out["samples"][leaf]:
            if row.get("filter", filt) == filt and metric in row:
                values.append(row[metric])
                strata.append(i)
    kinds = {aggregation_of(out, leaf, metric) for leaf in leaves}
    aggregation = kinds.pop() if len(kinds) == 1 else None
    if leaves != [task] and aggregation != "mean":
        aggregation = None
    return values, (np.asarray(strata) if len(leaves) > 1 else None), aggregation


def _looks_like_data_problem(message: str) -> bool:
    return bool(re.search(r"data|file|split|path|dataset", message, re.IGNORECASE))


def _collect(name: str, out: dict, sha256_json, *, seed: int = 1234, n_resamples: int = 1000) -> dict:
    """Metrics (with intervals from the per-sample scores), samples and hashes of one simple_evaluate output.

    lm-eval's own interval would be value +- 1.96 x stderr, which leaves [0, 1] on small n (acc 0.4 on
    5 questions: [-0.08, 0.88]). Instead, from lm-eval's per-sample values (evalsuite.stats.sample_interval):
    a mean of 0/1 scores gets a Wilson score interval, any other mean a seeded percentile bootstrap, a
    corpus aggregate (perplexity, word_perplexity, bits_per_byte, ...) a bootstrap that recomputes the
    aggregate on resampled rows, and anything else no interval (ci null, ci_method "none"; the reason
    goes to details.ci_notes). lm-eval's stderr is kept as `lmeval_stderr` (null where it gave "N/A").
    """
    from evalsuite.stats import sample_interval

    metrics, notes = {}, {}
    higher = out.get("higher_is_better", {})
    for task_name, values in out["results"].items():
        prefix = "" if task_name == name else f"{task_name}/"
        n = out.get("n-samples", {}).get(task_name, {}).get("effective")
        for key, value in values.items():
            if "," not in key or "_stderr" in key or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            stderr = values.get(f"{metric}_stderr,{filt}")
            label = prefix + (metric if filt == "none" else f"{metric},{filt}")
            better = higher.get(task_name, {}).get(metric)
            per_sample, strata, aggregation = _per_sample(out, task_name, filt, metric)
            interval = sample_interval(per_sample, aggregation, float(value), strata=strata, seed=seed,
                                       n_resamples=n_resamples)
            entry = {"value": float(value), "direction": "higher" if better is not False else "lower",
                     "ideal": None, "ci": interval.ci, "ci_method": interval.method, "confidence": 0.95,
                     "n": n if n is not None else (len(per_sample) or None),
                     "lmeval_stderr": float(stderr) if isinstance(stderr, (int, float))
                     and not isinstance(stderr, bool) else None}
            if interval.range is not None:
                entry["range"] = list(interval.range)
            if interval.note:
                notes[label] = interval.note
            metrics[label] = entry
    samples, choices = [], {}
    for task_name, rows in out.get("samples", {}).items():
        config = out.get("configs", {}).get(task_name, {}) or {}
        for row in rows:
            if config.get("output_type") == "multiple_choice":
                found = choice_scores(row, config.get("target_delimiter", " "))
                if found is not None:
                    choices.setdefault("" if task_name == name else f"{task_name}/", []).append((len(samples), *found))
            samples.append({"task": task_name, "doc_id": row["doc_id"], "doc_hash": row.get("doc_hash"),
                            "target": row.get("target"), "resps": row.get("resps"),
                            "filtered_resps": row.get("filtered_resps"),
                            "scores": {m: row[m] for m in row.get("metrics", []) if m in row}})
    doc_hashes = sorted(str(s["doc_hash"]) for s in samples)
    return {"metrics": metrics, "samples": samples, "task_hash": sha256_json(out.get("configs", {})),
            "data_hash": sha256_json(doc_hashes), "details": {"ci_notes": notes} if notes else {},
            "choice_scores": choices}


def choice_scores(row: dict, delimiter: str) -> tuple[list[float], int] | None:
    """(each choice's loglikelihood, gold index) of one logged multiple-choice sample, as lm-eval's acc reads
    them; None where lm-eval's acc does not rest on one gold index (several targets, mutual information)."""
    import numpy as np

    try:
        lls = [float(r[0]) for r in row["filtered_resps"]]
        conts = [str(a[1]) for a in row["arguments"]]
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    import numbers

    target = row.get("target")
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        target = int(target)  # numpy integers from a dataset column
    elif isinstance(target, str):
        texts = [c[len(delimiter):] if c.startswith(delimiter) else c for c in conts]
        target = texts.index(target) if target in texts else None
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < len(lls) or len(lls) != len(conts):
        return None
    if "acc" in row and float(row["acc"]) != float(int(np.argmax(lls)) == target):
        return None  # not the prediction lm-eval scored: leave it out rather than report another model's numbers
    return lls, target
