"""A global feature-importance bar plot (mean |attribution| per feature) for tabular explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def global_importance(attributions) -> dict[str, float]:
    """Mean |attribution| of each feature over the explained rows, largest first."""
    names = attributions[0].tokens
    values = np.mean([np.abs(np.asarray(a.scores, dtype=float)) for a in attributions], axis=0)
    order = np.argsort(-values, kind="stable")
    return {names[i]: float(values[i]) for i in order}


def plot_importance(importance: dict[str, float], path: Path, *, title: str, max_features: int = 20) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    items = list(importance.items())[:max_features][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(items) + 1.2))
    try:
        ax.barh([k for k, _ in items], [v for _, v in items], color="#3b6fb6")
        ax.set_xlabel("mean |attribution|")
        ax.set_title(title)
        fig.tight_layout()
        tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
        fig.savefig(tmp, dpi=100)
        tmp.replace(path)  # atomic: a reader never sees half a PNG
    finally:
        plt.close(fig)
    return Path(path)
