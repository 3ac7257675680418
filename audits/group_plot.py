"""Per-group rate plot with confidence intervals, shared by the tabular audit and the LM probes.

Input is the record layout of details["groups"]: rows with "attribute", "group", "n" and
"rates" {name: [value, ci_low, ci_high]}. One panel per rate, one bar per group (grouped
by attribute), the CI as an error bar; a group below the minimum size is hatched.
"""

from __future__ import annotations

from pathlib import Path


def plot_groups(rows: list[dict], path: str | Path, *, title: str = "", min_group_size: int = 0) -> Path:
    """Write the per-group plot to `path` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines and servers
    import matplotlib.pyplot as plt

    rate_names = [r for r in ("base_rate", "selection_rate", "tpr", "fpr", "favorable_rate", "mean_logprob")
                  if any(r in row["rates"] for row in rows)]
    rate_names += sorted({r for row in rows for r in row["rates"]} - set(rate_names))
    fig, axes = plt.subplots(1, max(1, len(rate_names)), figsize=(3.2 * max(1, len(rate_names)), 3.6 +
                                                                  0.12 * len(rows)), squeeze=False)
    labels = [row["group"] for row in rows]
    positions = list(range(len(rows)))
    attributes = [row["attribute"] for row in rows]
    palette = {a: f"C{i}" for i, a in enumerate(dict.fromkeys(attributes))}
    for ax, rate in zip(axes[0], rate_names):
        for pos, row in zip(positions, rows):
            if rate not in row["rates"]:
                continue
            value, lo, hi = row["rates"][rate]
            err = None
            if lo is not None and hi is not None:
                err = [[max(0.0, value - lo)], [max(0.0, hi - value)]]
            small = row.get("n", min_group_size) < min_group_size
            ax.barh(pos, value, xerr=err, color=palette[row["attribute"]], alpha=0.5 if small else 0.9,
                    hatch="//" if small else None, capsize=3)
        ax.set_title(rate)
        ax.set_yticks(positions)
        ax.set_yticklabels(labels if ax is axes[0][0] else [""] * len(labels), fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
