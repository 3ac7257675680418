"""Orient and normalise one metric so that 0 is the random baseline and 1 is the best value.

Every metric in a record carries its direction; nothing here guesses it.

- higher is better: score = (value - baseline) / (best - baseline); baseline
  defaults to 0 and best to 1. A k-way choice has baseline 1/k, so the score is
  (raw - 1/k) / (1 - 1/k); with a different k per sample the baseline is the
  mean of 1/k_i (the expected accuracy of uniform guessing).
- lower is better: score = (baseline - value) / (baseline - best); best
  defaults to 0 and baseline (the value a useless model gets) to 1.
- an ideal value (0 for a parity difference, 1 for disparate impact, 0.5 for a
  stereotype rate or a membership-inference AUC): score = 1 - |value - ideal| / scale,
  where scale is the distance from the ideal that scores 0; it defaults to the
  distance from the ideal to the far end of [0, 1] (1 for ideals 0 and 1, 0.5
  for 0.5), the range of rates and of differences of rates.

Scores are not clipped: a model worse than the baseline scores below 0.

Confidence intervals are carried through the same transform: the two
endpoints are mapped (and swapped when the transform decreases). For an ideal
metric the transform folds at the ideal, so when the interval straddles the
ideal its best end is a distance of 0 (score 1) and its worst end is the
endpoint farther from the ideal.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """How one metric is normalised (all optional; the defaults are above)."""

    baseline: float | None = None  # the value scored 0
    best: float | None = None  # the value scored 1
    chance: int | str | None = None  # k for a k-way choice (baseline 1/k), or "auto": from samples' n_choices
    scale: float | None = None  # ideal metrics: the distance from the ideal scored 0

    def is_default(self) -> bool:
        return self == Rule()


@dataclass(frozen=True)
class Score:
    """A normalised score and its confidence interval (None when the metric had none)."""

    value: float
    ci: tuple[float, float] | None


def chance_baseline(n_choices: list[float]) -> float:
    """Expected accuracy of uniform guessing over samples with n_choices[i] options each."""
    if not n_choices or min(n_choices) < 1:
        raise ValueError("chance needs every sample's number of choices (>= 1)")
    return sum(1.0 / k for k in n_choices) / len(n_choices)


def default_ideal_scale(ideal: float) -> float:
    return max(abs(ideal), abs(1.0 - ideal))


def normalise(entry: dict, rule: Rule = Rule(), *, baseline_override: float | None = None) -> Score:
    """Normalise a record's metric entry ({value, direction, ideal, ci}) under `rule`.

    `baseline_override` is the chance baseline worked out from samples (chance: auto).
    """
    direction, value, ci = entry["direction"], float(entry["value"]), entry.get("ci")
    ci = (float(ci[0]), float(ci[1])) if ci and None not in ci else None
    if direction == "ideal":
        if entry.get("ideal") is None:
            raise ValueError("an 'ideal' metric carries no ideal value")
        return _normalise_ideal(value, ci, float(entry["ideal"]), rule.scale)
    if direction == "higher":
        baseline = baseline_override if baseline_override is not None else rule.baseline
        if baseline is None and isinstance(rule.chance, int | float) and not isinstance(rule.chance, bool):
            baseline = 1.0 / float(rule.chance)
        low, high = (0.0 if baseline is None else baseline), (1.0 if rule.best is None else rule.best)
    elif direction == "lower":
        low, high = (1.0 if rule.baseline is None else rule.baseline), (0.0 if rule.best is None else rule.best)
    else:
        raise ValueError(f"unknown direction '{direction}'")
    if low == high:
        raise ValueError(f"baseline and best are both {low}; the score would divide by zero")

    def to_score(x: float) -> float:
        return (x - low) / (high - low)

    mapped = None if ci is None else tuple(sorted((to_score(ci[0]), to_score(ci[1]))))
    return Score(to_score(value), mapped)


def _normalise_ideal(value: float, ci, ideal: float, scale: float | None) -> Score:
    scale = default_ideal_scale(ideal) if scale is None else float(scale)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    score = 1.0 - abs(value - ideal) / scale
    if ci is None:
        return Score(score, None)
    low, high = ci
    far = max(abs(low - ideal), abs(high - ideal))
    near = 0.0 if low <= ideal <= high else min(abs(low - ideal), abs(high - ideal))
    return Score(score, (1.0 - far / scale, 1.0 - near / scale))
