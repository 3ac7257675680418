"""Counterfactual prompts: swap group terms in templates, compare continuation likelihoods and outcomes.

For one dimension (gender, race, ...) every template is filled with every term of every
group. For each filled prompt the model scores two continuations, a favorable and an
unfavorable outcome ("approve it" / "reject it"); the *outcome* the model picks is the
likelier one, and the *preference* is log P(favorable) - log P(unfavorable).

Per group and template: favorable_rate (share of the group's terms whose pick is
favorable) and mean_preference. Over groups, as group-fairness metrics:

- favorable_rate_difference = max_g rate - min_g rate     ideal 0 (statistical parity, unsigned)
- favorable_rate_ratio      = min_g rate / max_g rate     ideal 1 (disparate impact)
- preference_gap            = mean over templates of (max_g - min_g mean_preference)   ideal 0

CIs: percentile bootstrap over templates (evalsuite.stats.bootstrap_ci), the sampling unit
of the probe. Per-group rates with CIs go to details["groups"] and the per-group plot.
"""

from __future__ import annotations

import numpy as np

from evalsuite.audits.probe_data import DATA_DIR, load_yaml
from evalsuite.errors import UserError
from evalsuite.jobs import Job, JobContext, JobOutcome
from evalsuite.requests import Loglikelihood
from evalsuite.task_types import ideal

BUILTIN = DATA_DIR / "counterfactual.yaml"


def load_counterfactual(path=BUILTIN) -> dict:
    data = load_yaml(path)
    if not isinstance(data.get("dimensions"), dict) or not isinstance(data.get("templates"), list):
        raise UserError(f"'{path}' needs 'dimensions' (dimension -> group -> terms) and 'templates'")
    for t in data["templates"]:
        if not {"prompt", "favorable", "unfavorable"} <= set(t) or "{term}" not in t["prompt"]:
            raise UserError(f"'{path}': every template needs prompt (with {{term}}), favorable, unfavorable")
    return data


def _metrics_of(columns, groups: list[str]):
    """Group-fairness metrics from per-template columns, reducing over the last axis (bootstrap-ready)."""
    rates = np.stack([np.mean(columns[f"fav:{g}"], axis=-1) for g in groups], axis=-1)
    prefs = np.stack([columns[f"pref:{g}"] for g in groups], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.min(rates, -1) / np.max(rates, -1)
    return {"favorable_rate_difference": np.max(rates, -1) - np.min(rates, -1),
            "favorable_rate_ratio": np.where(np.max(rates, -1) > 0, ratio, 1.0),
            "preference_gap": np.mean(np.max(prefs, -1) - np.min(prefs, -1), axis=-1)}


DIRECTIONS = {"favorable_rate_difference": ideal(0), "favorable_rate_ratio": ideal(1), "preference_gap": ideal(0)}


def run_counterfactual(model, ctx: JobContext, dimension: str, data: dict) -> JobOutcome:
    from evalsuite.answering import answer
    from evalsuite.audits.group_plot import plot_groups
    from evalsuite.fingerprint import sha256_json
    from evalsuite.records import metric_entry
    from evalsuite.stats import BOOTSTRAP_METHOD, bootstrap_ci

    if dimension not in data["dimensions"]:
        raise UserError(f"unknown dimension '{dimension}'; the data has {', '.join(data['dimensions'])}")
    group_terms = data["dimensions"][dimension]
    groups = list(group_terms)
    if len(groups) < 2:
        raise UserError(f"dimension '{dimension}' needs at least two groups")
    templates = data["templates"][: ctx.limit] if ctx.limit else data["templates"]
    prompts = [(t, g, term, templates[t]["prompt"].replace("{term}", term)) for t in range(len(templates))
               for g in groups for term in group_terms[g]]
    requests = [Loglikelihood(p, templates[t][k]) for t, _, _, p in prompts for k in ("favorable", "unfavorable")]
    results = answer(model, requests, ctx.cache)
    lp = np.array([r.logprob for r in results]).reshape(-1, 2)
    preference = lp[:, 0] - lp[:, 1]
    samples, columns = [], {}
    for i, (t, g, term, prompt) in enumerate(prompts):
        samples.append({"doc_id": i, "template": t, "group": g, "term": term, "prompt": prompt,
                        "scores": {"favorable": float(preference[i] > 0), "preference": float(preference[i])}})
    for g in groups:
        rows = np.array([i for i, p in enumerate(prompts) if p[1] == g]).reshape(len(templates), -1)
        columns[f"fav:{g}"] = (preference[rows] > 0).mean(axis=1)  # per template: share of terms favored
        columns[f"pref:{g}"] = preference[rows].mean(axis=1)
    metrics = {}
    for name, value in _metrics_of(columns, groups).items():
        ci = bootstrap_ci(columns, lambda c, n=name: _metrics_of(c, groups)[n],
                          n_resamples=ctx.bootstrap_resamples, seed=ctx.seed)
        metrics[name] = metric_entry(float(value), DIRECTIONS[name].to_json(), ci, BOOTSTRAP_METHOD, len(templates))
    group_rows = []
    for g in groups:
        rate_ci = bootstrap_ci({"x": columns[f"fav:{g}"]}, lambda c: np.mean(c["x"], axis=-1),
                               n_resamples=ctx.bootstrap_resamples, seed=ctx.seed)
        pref_ci = bootstrap_ci({"x": columns[f"pref:{g}"]}, lambda c: np.mean(c["x"], axis=-1),
                               n_resamples=ctx.bootstrap_resamples, seed=ctx.seed)
        group_rows.append({"attribute": dimension, "group": f"{dimension}={g}",
                           "n": int(len(templates) * len(group_terms[g])),
                           "rates": {"favorable_rate": [float(columns[f"fav:{g}"].mean()), *rate_ci],
                                     "mean_preference": [float(columns[f"pref:{g}"].mean()), *pref_ci]}})
    plot_groups(group_rows, ctx.artifacts_dir / "groups.png", title=f"counterfactual {dimension} (95% CI)")
    return JobOutcome(metrics=metrics, samples=samples, data_hash=sha256_json([templates, group_terms]),
                      artifacts={"groups_plot": "groups.png"}, details={"groups": group_rows, "dimension": dimension})


def counterfactual_job(dimension: str, path=None) -> Job:
    """A Job probing one dimension of the built-in (or the user's) counterfactual data (read and checked now)."""
    data = load_counterfactual(path or BUILTIN)
    groups = data["dimensions"].get(dimension)
    if groups is None:
        raise UserError(f"unknown dimension '{dimension}'; '{path or BUILTIN}' has {', '.join(data['dimensions'])}")
    if not isinstance(groups, dict) or len(groups) < 2:
        raise UserError(f"dimension '{dimension}' of '{path or BUILTIN}' needs at least two groups of terms")

    def run(model, ctx):
        return run_counterfactual(model, ctx, dimension, data)

    return Job(run=run, category="fairness", requires=("loglikelihood",),
               description=f"counterfactual {dimension} prompts: outcome and likelihood gaps across groups")
