"""One model's page: category scores, per-task results with intervals, and the plots, all escaped."""

from __future__ import annotations

from html import escape as e

from evalsuite.leaderboards.site import page
from evalsuite.leaderboards.svg import interval_chart, xy_chart


def _f(x, digits: int = 4) -> str:
    return "\u2014" if x is None else f"{x:.{digits}g}"


def _ci(ci) -> str:
    return "" if not ci or None in ci else f'<span class="ci">[{_f(ci[0])}, {_f(ci[1])}]</span>'


def _direction(metric: dict) -> str:
    if metric["direction"] == "ideal":
        return f"ideal {_f(metric['ideal'])}"
    return {"higher": "higher is better", "lower": "lower is better"}.get(metric["direction"], str(metric["direction"]))


def _category_section(board: dict, model: dict) -> str:
    rows, chart_rows = [], []
    for category in board["categories"]:
        cell = model["categories"].get(category)
        if cell is None:
            rows.append(f'<tr><td>{e(category)}</td><td class="num muted" colspan="2">no records</td></tr>')
            continue
        note = "" if cell.get("counted", True) else f' <span class="muted">not in the overall: {e(cell["note"])}</span>'
        rows.append(f'<tr><td>{e(category)}</td><td class="num">{_f(cell["score"], 3)} {_ci(cell["ci"])}</td>'
                    f'<td class="num">{cell.get("n_tasks", "")}</td><td>{"yes" if cell.get("counted", True) else "no"}'
                    f'{note}</td></tr>')
        chart_rows.append((category, cell["score"], cell["ci"]))
    overall = model["overall"]
    summary = (f'<p>Overall {_f(overall["score"], 3)} {_ci(overall["ci"])} over {model["coverage"]} of '
               f'{model.get("coverage_of", len(board["categories"]))} weighted categories. {_rank_text(model)}</p>'
               if overall else '<p class="empty">No scored results.</p>')
    chart = interval_chart(chart_rows, title="Category scores (0 = random baseline, 1 = best)") if chart_rows else ""
    return (f"<h2>Categories</h2>{summary}<table><thead><tr><th>Category</th><th>Score [95% CI]</th><th>Tasks</th>"
            f"<th>In overall</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{chart}")


def _rank_text(model: dict) -> str:
    if model.get("partial"):
        return f'<strong class="partial-mark">Not ranked \u2014 {e(model["coverage_label"])}.</strong>'
    if not model.get("rank_label"):
        return ""
    tied = model.get("tied_with") or []
    return (f'Rank {e(model["rank_label"])}' + (f' (95% intervals overlap with {e(", ".join(tied))})' if tied else "")
            + ".")


def _task_section(task: dict) -> str:
    rows = []
    for m in task["metrics"]:
        score = (f'{_f(m["score"], 3)} {_ci(m["score_ci"])}' if m["counted"]
                 else f'<span class="muted">{e(m["note"])}</span>')
        rows.append(f'<tr><td>{e(m["metric"])}</td><td class="num">{_f(m["value"])} {_ci(m["ci"])}</td>'
                    f'<td>{e(_direction(m))}</td><td class="num">{_f(m["n"])}</td><td>{e(m["ci_method"] or "")}</td>'
                    f'<td class="num">{score}</td></tr>')
    links = "".join(f'<li><a href="{e(path)}">{e(label)}</a></li>' for label, path in
                    sorted((task.get("artifact_links") or {}).items()))
    head = f'Task score {_f(task["score"], 3)} {_ci(task["ci"])}' if task["score"] is not None else "Not scored"
    return (f'<section class="task"><h2>{e(task["task"])}</h2><p class="meta">{e(task["category"])} \u00b7 '
            f'run {e(task["run_id"] or "")} \u00b7 {head}</p><table><thead><tr><th>Metric</th><th>Value [95% CI]</th>'
            f'<th>Direction</th><th>n</th><th>CI method</th><th>Normalised score</th></tr></thead><tbody>'
            f'{"".join(rows)}</tbody></table>' + (f"<ul>{links}</ul>" if links else "") + "</section>")


def _privacy_utility_section(model: dict) -> str:
    series: dict[str, list] = {}
    for point in model["privacy_utility"]:
        if point.get("value") is None:
            continue
        name = f'{point.get("task", "?")} {point.get("metric", "")}'.strip()
        series.setdefault(name, []).append((point.get("epsilon"), float(point["value"]), point.get("ci")))
    if not series:
        return ""
    return ("<h2>Privacy-utility curve</h2>" +
            xy_chart(series, title="Utility against the privacy budget", x_label="epsilon (lower is more private)",
                     y_label="utility"))


def _fairness_section(model: dict) -> str:
    charts = {}
    for group in model["fairness_groups"]:
        for rate, triple in sorted((group.get("rates") or {}).items()):
            if not triple or triple[0] is None:
                continue
            ci = list(triple[1:3]) if len(triple) >= 3 and None not in triple[1:3] else None
            # One chart per rate: rates on different scales never share an axis.
            key = (group.get("task", ""), group.get("attribute", ""), rate)
            charts.setdefault(key, []).append((f'{group.get("group", "?")} (n={group.get("n", "?")})',
                                               float(triple[0]), ci))
    if not charts:
        return ""
    return "<h2>Per-group fairness rates</h2>" + "".join(
        interval_chart(rows, title=f"{task}: {rate} by {attribute}", bars=False)
        for (task, attribute, rate), rows in sorted(charts.items()))


def model_page(board: dict, model: dict) -> str:
    eff = model.get("efficiency")
    efficiency = (f'<p>Energy {_f(eff["joules_per_sample"])} J per sample (<strong>{e(eff["method"])}</strong>: '
                  f'{e(", ".join(eff["methods"]))}; {_f(eff["joules"])} J over {_f(eff["samples"])} samples in '
                  f'{eff["n_records"]} records; measured {eff.get("repeats", 1)}x per task'
                  + (f'; not in the overall: {e(eff["note"])}' if not eff.get("counted", True) else "")
                  + ').</p>' if eff else "")
    body = (f'<header><p><a href="../index.html">\u2190 {e(board["title"])}</a></p>'
            f'<h1 id="model-name">{e(model["model"])}</h1></header><main>'
            f'{_category_section(board, model)}{efficiency}{_privacy_utility_section(model)}'
            f'{_fairness_section(model)}{"".join(_task_section(t) for t in model["tasks"])}</main>')
    return page(f'{model["model"]} \u2014 {board["title"]}', body)
