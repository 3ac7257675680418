"""Export records as a Hugging Face model card `model-index` block and as lm-eval results JSON.

- model-index (the Hub's model card metadata): one result per record, task
  {type, name}, dataset {name, type} (the evalsuite task), metrics
  [{type, value, name}]. `huggingface_hub.ModelCard` reads it back.
- lm-eval results JSON (what `lm_eval --output_path` writes): `results` per
  task with "METRIC,none" and "METRIC_stderr,none", plus `versions`, `n-shot`,
  `higher_is_better`, `n-samples` and `config`. The standard error is
  lm-eval's own for mean metrics (sample standard deviation with ddof 1 over
  sqrt(n)), computed from samples.jsonl when the metric is the mean of a
  per-sample score; otherwise it is read off the 95% interval as
  (hi - lo) / (2 x 1.96); with neither it is "N/A", as lm-eval writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Z95 = 1.959963984540054


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def model_index(model: str, records: dict[str, dict], *, task_type: str = "text-generation") -> list[dict]:
    """The `model-index` list for one model's records."""
    results = []
    for task, record in sorted(records.items()):
        category = record.get("category", "capability")
        metrics = [{"type": name, "value": float(entry["value"]), "name": f"{name} ({category})"}
                   for name, entry in sorted(record["metrics"].items()) if _finite(entry.get("value"))]
        if metrics:
            results.append({"task": {"type": task_type, "name": task_type.replace("-", " ").title()},
                            "dataset": {"name": task.split("/", 1)[-1], "type": task}, "metrics": metrics})
    return [{"name": model, "results": results}]


def model_card_header(model: str, records: dict[str, dict], **kwargs) -> str:
    """A model card's YAML front matter holding the model-index block (paste it at the top of README.md)."""
    import yaml

    body = yaml.safe_dump({"model-index": model_index(model, records, **kwargs)}, sort_keys=False, allow_unicode=True)
    return f"---\n{body}---\n"


def _stderr(name: str, entry: dict, samples: list[dict] | None):
    values = [row["scores"][name] for row in samples or [] if name in (row.get("scores") or {})]
    if len(values) >= 2 and len(values) == len(samples) and abs(sum(values) / len(values) - entry["value"]) < 1e-9:
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) / math.sqrt(len(values))
    ci = entry.get("ci")
    if ci and None not in ci and all(map(_finite, ci)):
        return (ci[1] - ci[0]) / (2 * Z95)
    return "N/A"


def lm_eval_results(model: str, records: dict[str, dict], load_samples: Callable | None = None) -> dict:
    """One model's records in lm-eval's results format."""
    short = [t.split("/", 1)[-1] for t in records]
    results, versions, n_shot, better, n_samples, configs = {}, {}, {}, {}, {}, {}
    seeds = set()
    for task, record in sorted(records.items()):
        key = task.split("/", 1)[-1] if short.count(task.split("/", 1)[-1]) == 1 else task
        samples = load_samples(record) if load_samples else None
        row = {"alias": key}
        for name, entry in sorted(record["metrics"].items()):
            if not _finite(entry.get("value")):
                continue
            row[f"{name},none"] = float(entry["value"])
            row[f"{name}_stderr,none"] = _stderr(name, entry, samples)
        results[key] = row
        manifest = record.get("manifest") or {}
        versions[key] = (manifest.get("task_hash") or "")[:12] or None
        n_shot[key] = 0
        better[key] = {name: {"higher": True, "lower": False}.get(entry.get("direction"))
                       for name, entry in record["metrics"].items()}
        n = max([e.get("n") or 0 for e in record["metrics"].values()] or [0])
        n_samples[key] = {"original": n, "effective": n}
        configs[key] = {"task": key, "evalsuite_task": task, "evalsuite_run_id": record.get("run_id"),
                        "category": record.get("category")}
        seeds.add(manifest.get("seed"))
    config = {"model": "evalsuite", "model_args": f"model={model}"}
    if len(seeds) == 1 and None not in seeds:
        config["random_seed"] = seeds.pop()
    return {"results": results, "group_subtasks": {k: [] for k in results}, "configs": configs,
            "versions": versions, "n-shot": n_shot, "higher_is_better": better, "n-samples": n_samples,
            "config": config}
