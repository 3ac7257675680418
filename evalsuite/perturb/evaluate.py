"""Evaluate a task again under each perturbation and add the paired comparison to its record.

The unperturbed evaluation runs exactly as without `--perturb`; afterwards each arm rewrites the
prompts of the same documents (native tasks: the requests' contexts and prompts; lm-eval tasks:
every request lm-eval makes, few-shot examples included, through a rewriting `EvalsuiteLM`) and
scores them with the task's own scoring. All arms of a native task go to the engine in one call.
Results pair with the unperturbed ones by document; metrics come from evalsuite.perturb.metrics.
Tasks without a 0/1 per-sample accuracy (perplexity, jobs) are left alone, with a note.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evalsuite.perturb import Arm, words
from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodRolling

_TEXT_FIELD = {Loglikelihood: "context", Generate: "prompt", LoglikelihoodRolling: "text"}
_ACCURACY_FIELDS = ("acc", "exact_match", "accuracy")
_RANK = {"unchanged": 0, "changed": 1, "skipped": 2}


def rewrite_requests(requests: list, arm: Arm, protected: frozenset, seed: int) -> tuple[list, str]:
    """(requests, status) of one document under one arm; status is changed, unchanged or skipped."""
    out = []
    for req in requests:
        name = _TEXT_FIELD[type(req)]
        new = arm.rewrite(getattr(req, name), protected, seed)
        if new is None:
            return list(requests), "skipped"
        out.append(replace(req, **{name: new}))
    return out, "changed" if out != list(requests) else "unchanged"


def _binary(values) -> bool:
    return len(values) > 0 and all(v in (0, 1, 0.0, 1.0, True, False) for v in values)


def _native(task, state, model, cache, arms: list[Arm], seed: int):
    from evalsuite.answering import answer

    spec, (docs, per_doc, results) = task.spec, state
    first = spec.metrics[0]
    field = first.args.get("field") if first.reducer.split("/")[-1] == "mean" else None
    scores = [spec.score(doc, got) for doc, got in zip(docs, results)]
    if field is None or not _binary([s.get(field) for s in scores]):
        return None

    def predict(doc, got, score):
        return int(np.argmax(spec.choice_scores(doc, got)[0])) if spec.choice_scores else score[field]

    base_pred = [predict(d, g, s) for d, g, s in zip(docs, results, scores)]
    protected = []
    for doc, reqs in zip(docs, per_doc):
        texts = spec.answer_texts(doc) if spec.answer_texts else [r.continuation for r in reqs
                                                                   if isinstance(r, Loglikelihood)]
        protected.append(frozenset(w for t in texts for w in words(t)))
    plan, flat = [], []
    for arm in arms:  # only changed documents go to the model; the others keep their unperturbed answers
        rows = [rewrite_requests(reqs, arm, prot, seed) for reqs, prot in zip(per_doc, protected)]
        plan.append(rows)
        flat += [r for reqs, how in rows if how == "changed" for r in reqs]
    answers, at, out = answer(model, flat, cache), 0, {}
    for arm, rows in zip(arms, plan):
        got_scores, preds, status = [], [], []
        for doc, (reqs, how), before in zip(docs, rows, results):
            got = before
            if how == "changed":
                got = answers[at:at + len(reqs)]
                at += len(reqs)
            score = spec.score(doc, got)
            got_scores.append(float(score[field]))
            preds.append(predict(doc, got, score))
            status.append(how)
        out[arm.label] = (got_scores, preds, status)
    keys = list(range(len(docs)))
    return field, keys, [float(s[field]) for s in scores], base_pred, out


def _lmeval_rows(outcome: dict) -> tuple[str | None, dict]:
    """(accuracy field, (task, doc_id, occurrence) -> sample index) of an lm-eval outcome."""
    keys, seen = {}, {}
    for i, row in enumerate(outcome["samples"]):
        k = (row["task"], row["doc_id"])
        seen[k] = seen.get(k, -1) + 1
        keys[(*k, seen[k])] = i
    rows = outcome["samples"]
    for name in _ACCURACY_FIELDS:
        if rows and all(name in (r.get("scores") or {}) for r in rows) and _binary([r["scores"][name] for r in rows]):
            return name, keys
    return None, keys


def _lm_prediction(row: dict, field: str):
    resps = row.get("filtered_resps") or []
    try:
        return int(np.argmax([float(r[0]) for r in resps])) if resps and isinstance(resps[0], (list, tuple)) \
            else row["scores"][field]
    except (TypeError, ValueError, IndexError):
        return row["scores"][field]


class _LMRewriter:
    """Rewrites lm-eval's requests for one arm; remembers each document's status."""

    def __init__(self, arm: Arm, seed: int):
        self.arm, self.seed, self.status = arm, seed, {}

    def __call__(self, instances, asked):
        groups: dict = {}
        for inst, req in zip(instances, asked):
            groups.setdefault((inst.task_name, inst.doc_id), []).append(req)
        rewritten = {}
        for key, reqs in groups.items():
            answers = [r.continuation for r in reqs if isinstance(r, Loglikelihood)]
            prot = frozenset(w for t in answers for w in words(t))
            new, how = rewrite_requests(reqs, self.arm, prot, self.seed)
            rewritten[key] = iter(new)
            # a document asked in several calls keeps its strongest status: skipped > changed > unchanged
            self.status[key] = max(self.status.get(key, "unchanged"), how, key=_RANK.get)
        return [next(rewritten[(inst.task_name, inst.doc_id)]) for inst in instances]


def _lmeval(task, outcome, model, cache, plan, arms: list[Arm], seed: int):
    from evalsuite.lmeval.tasks import run_lmeval_task

    field, keys = _lmeval_rows(outcome)
    if field is None:
        return None
    rows = outcome["samples"]
    base_pred = [_lm_prediction(r, field) for r in rows]
    out = {}
    for arm in arms:
        rewriter = _LMRewriter(arm, seed)
        again = run_lmeval_task(task.name, model, cache, plan.lmeval, limit=plan.config.limit, seed=seed,
                                n_resamples=2, rewrite=rewriter)
        _, their = _lmeval_rows(again)
        got_scores, preds, status = [], [], []
        for key, i in keys.items():
            j = their.get(key)
            row = again["samples"][j] if j is not None else rows[i]
            got_scores.append(float(row["scores"][field]))
            preds.append(_lm_prediction(row, field))
            status.append(rewriter.status.get(key[:2], "unchanged") if j is not None else "skipped")
        out[arm.label] = (got_scores, preds, status)
    return field, list(keys.values()), [float(r["scores"][field]) for r in rows], base_pred, out


def add_robustness(outcome: dict, task, state, model, cache, plan, echo) -> None:
    """Evaluate `task` under every arm of `plan.perturbations`; metrics, summary and per-sample flips go into
    `outcome` (the task's own record)."""
    from evalsuite.jobs import Job
    from evalsuite.perturb.metrics import robustness_metrics

    arms, config = plan.perturbations, plan.config
    if isinstance(task.spec, Job):
        return
    paired = (_native(task, state, model, cache, arms, config.seed) if task.source == "native"
              else _lmeval(task, outcome, model, cache, plan, arms, config.seed))
    if paired is None:
        echo(f"[evalsuite] --perturb: {task.name} has no 0/1 per-sample accuracy; left unperturbed")
        return
    field, keys, base, base_pred, per_arm = paired
    base = np.asarray(base, dtype=float)
    arm_of = {a.label: a for a in arms}
    got = {}
    for label, (scores, preds, status) in per_arm.items():
        flipped = [s == "changed" and p != b for s, p, b in zip(status, preds, base_pred)]
        got[label] = {"arm": arm_of[label], "scores": np.asarray(scores, dtype=float), "status": status,
                      "flipped": flipped}
        for k, i in enumerate(keys):
            outcome["samples"][i].setdefault("perturbations", {})[label] = {
                "status": status[k], "score": scores[k], "flipped": bool(flipped[k])}
    metrics, summary = robustness_metrics(base, got, seed=config.seed, n_resamples=config.bootstrap_resamples)
    outcome["metrics"].update(metrics)
    outcome.setdefault("details", {})["robustness"] = {
        "field": field, "seed": config.seed, "arms": summary,
        "perturbations": [a.to_json() for a in arms],
        "note": "prompts rewritten, answers never; a document is skipped where a rewrite would change an answer "
                "word; flipped = changed and the predicted answer differs (samples.jsonl: perturbations)"}
