"""Plots written next to privacy records: the attack ROC on log axes and the utility-privacy curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def roc_points(scores, members) -> tuple[np.ndarray, np.ndarray]:
    scores, members = np.asarray(scores, float), np.asarray(members, int)
    order = np.argsort(-scores, kind="stable")
    hits = members[order]
    tpr = np.concatenate([[0.0], np.cumsum(hits) / max(hits.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(1 - hits) / max((1 - hits).sum(), 1)])
    return fpr, tpr


def plot_roc(path: Path, attacks: dict[str, tuple], epsilon: float | None, delta: float | None) -> None:
    """ROC of each attack on log-log axes (low FPR is where privacy attacks matter), with the DP bound."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for label, (scores, members) in attacks.items():
        fpr, tpr = roc_points(scores, members)
        ax.plot(np.maximum(fpr, 1e-4), np.maximum(tpr, 1e-4), label=label)
    grid = np.logspace(-4, 0, 200)
    ax.plot(grid, grid, "k:", label="chance")
    if epsilon is not None:
        ax.plot(grid, np.minimum(1, np.exp(epsilon) * grid + (delta or 0)), "r--",
                label=f"DP bound (eps={epsilon:.2f})")
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate",
           title="membership inference ROC", xlim=(1e-4, 1), ylim=(1e-4, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_utility_curve(path: Path, points: list[dict]) -> None:
    """One line per (task, metric): value with CI against epsilon; the non-private run on the right edge."""
    plt = _pyplot()
    private = [p["epsilon"] for p in points if p["epsilon"] is not None]
    right = (max(private) * 4) if private else 1.0
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in dict.fromkeys((p["task"], p["metric"]) for p in points):
        rows = sorted((p for p in points if (p["task"], p["metric"]) == key),
                      key=lambda p: right if p["epsilon"] is None else p["epsilon"])
        xs = [right if p["epsilon"] is None else p["epsilon"] for p in rows]
        ys = [p["value"] for p in rows]
        lo = [p["value"] - p["ci"][0] if p.get("ci") else 0 for p in rows]
        hi = [p["ci"][1] - p["value"] if p.get("ci") else 0 for p in rows]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=f"{key[0]}: {key[1]}")
    ax.set_xscale("log")
    ax.axvline(right, color="grey", ls=":")
    ax.annotate("no DP", (right, ax.get_ylim()[1]), ha="center", va="bottom", fontsize=8)
    ax.set(xlabel="epsilon (log scale)", ylabel="metric value", title="utility against privacy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
