"""Ranking with the uncertainty in view: rank ranges where intervals overlap, and coverage marked.

Two rules, as a careful leaderboard (HELM, Chatbot Arena) would apply them:

- **Coverage.** An overall score is a mean over the categories a model was scored in, so models scored
  in different categories are not comparable. The reference set is the most complete category set (the
  largest; among equally large ones, the one most models share, then the one earliest in the
  definition's column order). Only models scored on exactly that set are ranked; every other row comes
  after them, unranked, marked "partial: k/N categories (no fairness, ...)".
- **Ties.** Among ranked models, model B is clearly ahead of A when B's overall interval lies wholly
  above A's (B's lower end > A's upper end). A model's rank is 1 + the number of models clearly ahead
  (Chatbot Arena's rank), and its worst rank is the number of models not clearly behind it; when the two
  differ the rank is shown as a range ("1-3") and the models it overlaps are listed in `tied_with`.
  Non-overlap of 95% intervals is a conservative test of a difference, so a range means "not shown to
  differ", never "shown to be equal".
"""

from __future__ import annotations

DASH = "\u2013"


def _interval(model: dict) -> tuple[float, float]:
    overall = model["overall"]
    ci = overall.get("ci")
    return (ci[0], ci[1]) if ci and None not in ci else (overall["score"], overall["score"])


def reference_set(models: list[dict], order: list[str]) -> frozenset:
    """The category set models are ranked on (see the module docstring); empty when nothing is scored."""
    counts: dict[frozenset, int] = {}
    for model in models:
        if model["overall"] is not None:
            key = frozenset(model["counted_categories"])
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return frozenset()
    return max(counts, key=lambda s: (len(s), counts[s], [-order.index(c) for c in sorted(s, key=order.index)]))


def rank_models(models: list[dict], order: list[str]) -> tuple[list[dict], dict]:
    """The models in ranking order, each with rank fields; and the board's ranking summary.

    Added to each model: `rank` (int, or None when unranked), `rank_range` [best, worst], `rank_label`
    ("2", "1-3", or "" unranked), `tied_with` (names), `partial` (bool) and `coverage_label`.
    """
    reference = reference_set(models, order)
    ranked = [m for m in models if m["overall"] is not None and frozenset(m["counted_categories"]) == reference]
    ranked_ids = {id(m) for m in ranked}
    for model in models:
        missing = [c for c in order if c in reference and c not in model["counted_categories"]]
        model["partial"] = id(model) not in ranked_ids
        model["coverage_label"] = f"{model['coverage']}/{model['coverage_of']}"
        if model["overall"] is None:
            model["coverage_label"] = "no scored results"
        elif model["partial"]:
            extra = [c for c in model["counted_categories"] if c not in reference]
            detail = ", ".join([f"no {c}" for c in missing] + [f"has {c}" for c in extra])
            model["coverage_label"] = (f"partial: {model['coverage']}/{model['coverage_of']} categories"
                                       + (f" ({detail})" if detail else ""))
        model.update(rank=None, rank_range=None, rank_label="", tied_with=[])
    for model in ranked:
        low, high = _interval(model)
        ahead = sum(1 for o in ranked if o is not model and _interval(o)[0] > high)
        behind = sum(1 for o in ranked if o is not model and _interval(o)[1] < low)
        best, worst = 1 + ahead, len(ranked) - behind
        tied = [o["model"] for o in ranked if o is not model and _interval(o)[0] <= high and _interval(o)[1] >= low]
        model.update(rank=best, rank_range=[best, worst], tied_with=sorted(tied),
                     rank_label=str(best) if best == worst else f"{best}{DASH}{worst}")
    ranked.sort(key=lambda m: (m["rank"], -m["overall"]["score"], m["model"]))
    partial = sorted((m for m in models if m["partial"] and m["overall"] is not None),
                     key=lambda m: (-m["coverage"], -m["overall"]["score"], m["model"]))
    unscored = sorted((m for m in models if m["overall"] is None), key=lambda m: m["model"])
    summary = {"reference_categories": [c for c in order if c in reference], "n_ranked": len(ranked),
               "n_partial": len(partial), "method": "rank = 1 + models whose 95% overall interval lies wholly "
               "above; a range where intervals overlap; only models scored on the reference categories are ranked"}
    return ranked + partial + unscored, summary


def ranking_lines(board: dict) -> list[str]:
    """The ranking as terminal lines: rank, overall [95% CI], coverage, model (names made terminal-safe)."""
    from evalsuite.text import terminal_safe

    def fmt(x) -> str:
        return "   n/a" if x is None else f"{x:6.3f}"

    lines = [f"{'rank':<7} {'overall [95% CI]':<26} {'coverage':<12} model"]
    for model in board["models"]:
        overall = model["overall"]
        ci = overall.get("ci") if overall else None
        score = fmt(overall["score"] if overall else None) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")
        rank = model["rank_label"] or "-"
        cover = f"{model['coverage']}/{model['coverage_of']}"
        mark = f"  ({model['coverage_label']})" if model["partial"] else ""
        tied = f"  (tied with {', '.join(model['tied_with'])})" if model["tied_with"] else ""
        lines.append(terminal_safe(f"{rank:<7} {score:<26} {cover:<12} {model['model']}{mark}{tied}"))
    return lines
