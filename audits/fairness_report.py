"""A tabular fairness audit as a record: metrics with ideals, per-group rates, plot, JSON and Markdown report."""

from __future__ import annotations

import math
from pathlib import Path

from evalsuite.audits.fairness_metrics import STRATIFIED_METHOD
from evalsuite.jobs import JobOutcome
from evalsuite.records import atomic_write_json, atomic_write_text, metric_entry

REPORT_COLUMNS = ("accuracy", "statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                  "average_odds_difference", "equalized_odds_difference", "theil_index")
SHORT = {"accuracy": "acc", "statistical_parity_difference": "SPD", "disparate_impact": "DI",
         "equal_opportunity_difference": "EOD", "average_odds_difference": "AOD",
         "equalized_odds_difference": "EqOdds", "theil_index": "Theil"}


def _clean(x):
    """JSON has no NaN: undefined values (a rate of an empty cell) become null."""
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def _cell(value, ci) -> str:
    if _clean(value) is None:
        return "n/a"
    lo, hi = (_clean(c) for c in ci)
    bounds = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{value:.3f}{bounds}"


def comparison_table(audit) -> str:
    """Text table: one line per method (unmitigated first), primary-grouping metrics with 95% CIs."""
    methods = [audit.audit, *audit.mitigations]
    header = ["method", *(SHORT[c] for c in REPORT_COLUMNS)]
    lines = [header]
    for m in methods:
        metrics = m.metrics
        lines.append([m.method, *(_cell(*metrics[c]) for c in REPORT_COLUMNS)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in lines)


def markdown_report(audit) -> str:
    primary = audit.groupings[0]
    lines = [f"# Fairness audit: {audit.model_name}", "",
             f"Label `{audit.label}` (favorable `{audit.favorable}`), {audit.n} evaluation rows; primary "
             f"grouping `{primary.attribute}` with reference group `{primary.group_names[primary.reference]}`. "
             f"95% CIs: group-stratified percentile bootstrap, {audit.n_resamples} resamples.", "",
             "| method | " + " | ".join(SHORT[c] for c in REPORT_COLUMNS) + " |",
             "|---" * (len(REPORT_COLUMNS) + 1) + "|"]
    for m in [audit.audit, *audit.mitigations]:
        lines.append(f"| {m.method} | " + " | ".join(_cell(*m.metrics[c]) for c in REPORT_COLUMNS) + " |")
    lines += ["", "## Groups", "", "| attribute | group | n | base rate | selection rate | TPR | FPR |",
              "|---|---|---|---|---|---|---|"]
    for row in audit.groups_json():
        cells = [_cell(v[0], v[1:]) if (v := row["rates"].get(k)) else "n/a"
                 for k in ("base_rate", "selection_rate", "tpr", "fpr")]
        lines.append(f"| {row['attribute']} | {row['group']} | {row['n']} | " + " | ".join(cells) + " |")
    if audit.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in audit.warnings]
    return "\n".join(lines) + "\n"


def _metric_entries(method_audit, n: int) -> dict:
    from evalsuite.audits.tabular_audit import metric_direction

    out = {}
    for name, (value, ci) in method_audit.metrics.items():
        ci = tuple(_clean(c) for c in ci)
        out[name] = metric_entry(_clean(value), metric_direction(name), ci if None not in ci else None,
                                 STRATIFIED_METHOD, n)
    return out


def to_outcome(audit, artifacts_dir) -> JobOutcome:
    """Write the plot and reports into `artifacts_dir` and return the record's content."""
    from evalsuite.audits.group_plot import plot_groups
    from evalsuite.fingerprint import sha256_json

    folder = Path(artifacts_dir)
    groups = audit.groups_json()
    plot_groups(groups, folder / "groups.png", title=f"{audit.model_name}: per-group rates (95% CI)",
                min_group_size=audit.min_group_size)
    comparison = [{k: ([_clean(x) for x in v] if isinstance(v, list) else v) for k, v in row.items()}
                  for row in audit.comparison()]
    report = {"model": audit.model_name, "label": audit.label, "favorable": audit.favorable, "n": audit.n,
              "comparison": comparison, "groups": groups, "warnings": audit.warnings, "split": audit.split,
              "pairwise": {gf.attribute: gf.pairwise for gf in audit.groupings},
              "references": {gf.attribute: gf.group_names[gf.reference] for gf in audit.groupings}}
    atomic_write_json(folder / "fairness_report.json", report)
    atomic_write_text(folder / "fairness_report.md", markdown_report(audit))
    details = {"groups": groups, "mitigation": comparison, "warnings": audit.warnings,
               "min_group_size": audit.min_group_size, "label": audit.label, "favorable": audit.favorable,
               "references": report["references"], "pairwise": report["pairwise"], "split": audit.split}
    metrics = _metric_entries(audit.audit, audit.n)
    headline = next((m for m in metrics if "statistical_parity_difference" in m), None)
    return JobOutcome(metrics=metrics, samples=audit.rows, headline=headline,
                      data_hash=sha256_json([[r["scores"]["y"], r["group"]] for r in audit.rows]),
                      artifacts={"groups_plot": "groups.png", "report_json": "fairness_report.json",
                                 "report_md": "fairness_report.md"}, details=details)
