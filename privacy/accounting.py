"""Privacy accounting: epsilon for a DP-SGD schedule, and the noise that reaches a target epsilon.

Thin wrappers over Opacus' accountants that always name the accountant: Opacus'
`PrivacyEngine()` defaults to PRV while `get_noise_multiplier` defaults to RDP, and
an epsilon without its accountant is not comparable with another one.
"""

from __future__ import annotations

import math


def steps_for(epochs: int, sample_rate: float) -> int:
    """DP-SGD steps in `epochs` with Poisson sampling at `sample_rate` (Opacus' own rounding)."""
    return int(epochs / sample_rate)


def epsilon_for(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """Epsilon spent after `steps` steps of the subsampled Gaussian mechanism."""
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    eps = float(acc.get_epsilon(delta=delta))
    return eps if math.isfinite(eps) else float("inf")


def noise_for_epsilon(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str,
                      tolerance: float = 0.01) -> float:
    """The smallest noise multiplier (to `tolerance` in epsilon) whose epsilon is <= target."""
    from opacus.accountants.utils import get_noise_multiplier

    from evalsuite.errors import UserError

    try:
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                          sample_rate=sample_rate, steps=steps, accountant=accountant,
                                          epsilon_tolerance=tolerance))
    except ValueError as exc:
        raise UserError(f"no noise multiplier reaches epsilon {target_epsilon} ({exc}); raise --target-epsilon "
                        "or --delta, or train fewer epochs") from None
