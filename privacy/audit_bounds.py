"""The audit's empirical epsilon lower bound, and whether the audit could have shown anything.

Two methods, each run on each attack's scores:

- `clopper-pearson`: members vs held-out non-members of the data (a fixed-size split),
  threshold chosen on one half, Clopper-Pearson bound on the other (`empirical_eps`);
- `one-run`: audit canaries, each trained on by its own fair coin, the top and bottom
  of the attack's ranking guessed in and out (Steinke, Nasr and Jagielski 2023,
  `one_run`). Every canary counts, so at the same number of scored examples it
  certifies more (a perfect attack on 120 examples: about 3.1 against about 2.0).

Every (method, attack) test runs at level 0.05 / (number of tests), so the largest bound
holds at 95% as a whole (Bonferroni). Next to it, the audit's power: the bound a perfect
attack would get from the same tests (`max_certifiable`). A bound of 0 is vacuous: the
audit certified nothing; when `max_certifiable` is below the claimed epsilon, the audit
could not have refuted the claim whatever the model did.
"""

from __future__ import annotations

CONFIDENCE = 0.95


def compute_bounds(attacks: dict, is_member, canary_attacks: dict, canary_in, *, delta: float, seed: int) -> dict:
    """Every test's bound and perfect bound; the strongest; the power. Scores: higher = more likely a member."""
    from evalsuite.privacy.empirical_eps import empirical_epsilon, perfect_split_bound
    from evalsuite.privacy.one_run import one_run_bound

    n_tests = len(attacks) + len(canary_attacks)
    confidence = 1 - (1 - CONFIDENCE) / max(n_tests, 1)
    tests = {}
    for name, scores in attacks.items():
        result = empirical_epsilon(scores, is_member, delta, confidence=confidence, seed=seed)
        n_pos, n_neg = int(sum(is_member)), int(len(is_member) - sum(is_member))
        result["perfect_bound"] = perfect_split_bound(n_pos, n_neg, delta, confidence)
        tests[f"clopper-pearson/{name}"] = result
    for name, scores in canary_attacks.items():
        tests[f"one-run/{name}"] = one_run_bound(scores, canary_in, delta, confidence=confidence, seed=seed)
    strongest = max(tests, key=lambda k: tests[k]["epsilon_lower_bound"]) if tests else None
    bound = tests[strongest]["epsilon_lower_bound"] if tests else 0.0
    best_power = max(tests, key=lambda k: tests[k]["perfect_bound"]) if tests else None
    return {"tests": tests, "strongest": strongest, "epsilon_lower_bound": float(bound),
            "max_certifiable": float(tests[best_power]["perfect_bound"]) if tests else 0.0,
            "most_powerful_test": best_power, "confidence": CONFIDENCE, "confidence_per_test": confidence,
            "delta_used": delta}


def power_verdict(bounds: dict, claimed_epsilon: float | None, n_audit_canaries: int) -> dict:
    """Whether the bound says anything, and whether the audit could have refuted the claim; in words too."""
    from evalsuite.privacy.one_run import canaries_needed

    bound, best = bounds["epsilon_lower_bound"], bounds["max_certifiable"]
    vacuous = bound <= 0
    can_refute = None if claimed_epsilon is None else best > claimed_epsilon
    if vacuous:
        text = (f"VACUOUS: the audit certifies nothing (epsilon >= 0); even a perfect attack would certify at most "
                f"{best:.2f} at this audit size")
    else:
        text = f"epsilon >= {bound:.2f} with {CONFIDENCE:.0%} confidence ({bounds['strongest']})"
    if can_refute is False:
        text += (f"; this audit cannot refute the claimed epsilon {claimed_epsilon:.2f} (its largest certifiable "
                 f"bound is {best:.2f})")
    target = claimed_epsilon if claimed_epsilon is not None else None
    need = (canaries_needed(target, bounds["delta_used"], bounds["confidence_per_test"])
            if target is not None and not can_refute else None)
    if vacuous or can_refute is False:
        if need is not None:
            text += f"; plant >= {need} audit canaries (audit_canaries) to have the power to refute it"
        elif not n_audit_canaries:
            text += "; plant audit canaries (audit_canaries, or preset=power) for a one-run audit with more power"
    return {"vacuous": vacuous, "max_certifiable": best, "can_refute_claim": can_refute,
            "canaries_needed_to_refute_claim": need, "verdict": text}
