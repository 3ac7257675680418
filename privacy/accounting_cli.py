"""`evalsuite privacy epsilon` and `evalsuite privacy noise`: DP-SGD accounting from the command line.

    evalsuite privacy epsilon --noise-multiplier 1.1 --sample-rate 0.0042667 --steps 14062 --delta 1e-5
    evalsuite privacy noise --target-epsilon 2 --sample-rate 0.01 --epochs 10 --delta 1e-5 --accountant rdp

`epsilon` prints the epsilon Opacus' accountant (PRV by default, as `PrivacyEngine()`;
RDP or GDP with --accountant) gives the subsampled Gaussian mechanism after the steps;
`noise` is its inverse, the smallest noise multiplier whose epsilon is at most the
target (Opacus' `get_noise_multiplier`, here with the same default accountant, where
Opacus' own function defaults to RDP). --epochs E stands for int(E / sample_rate)
steps, Opacus' rounding. Every output names its accountant; --json prints one object.
Bad input is one line naming every problem, exit 2. Light to import: Opacus loads
only when a number is computed.
"""

from __future__ import annotations

import math

from evalsuite.errors import UserError
from evalsuite.registry import command

ACCOUNTANTS = ("prv", "rdp", "gdp")


def _schedule_flags(p) -> None:
    p.add_argument("--sample-rate", type=float, required=True,
                   help="Poisson sampling rate q = expected batch size / dataset size (need not be 1/k)")
    steps = p.add_mutually_exclusive_group(required=True)
    steps.add_argument("--steps", type=int, help="DP-SGD steps")
    steps.add_argument("--epochs", type=float, help="epochs instead of steps: int(epochs / sample rate) steps")
    p.add_argument("--delta", type=float, required=True, help="delta of the (epsilon, delta) guarantee")
    p.add_argument("--accountant", default="prv", help="prv (default, as Opacus' PrivacyEngine), rdp or gdp")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("privacy", description="privacy accounting: 'epsilon' for a DP-SGD schedule, 'noise' for a target "
         "epsilon (Opacus' accountants)")
def privacy_command(p):
    sub = p.add_subparsers(dest="privacy_command", required=True, metavar="{epsilon,noise}")
    eps = sub.add_parser("epsilon", help="epsilon spent by a DP-SGD schedule",
                         description="epsilon spent by the subsampled Gaussian mechanism (Opacus' accountants)")
    eps.add_argument("--noise-multiplier", type=float, required=True, help="noise multiplier sigma")
    _schedule_flags(eps)
    noise = sub.add_parser("noise", help="noise multiplier that reaches a target epsilon",
                           description="the smallest noise multiplier whose epsilon is at most --target-epsilon")
    noise.add_argument("--target-epsilon", type=float, required=True, help="epsilon to reach")
    noise.add_argument("--tolerance", type=float, default=0.01,
                       help="how far below the target the epsilon may land (default 0.01)")
    _schedule_flags(noise)
    return _handle


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def schedule_problems(args) -> list[str]:
    """Every problem with the flags, worded with the flags the user wrote."""
    problems = []
    if args.privacy_command == "epsilon" and not (_finite(args.noise_multiplier) and args.noise_multiplier > 0):
        problems.append(f"--noise-multiplier must be a finite number > 0 (0 is no privacy), "
                        f"got {args.noise_multiplier}")
    if args.privacy_command == "noise":
        if not (_finite(args.target_epsilon) and args.target_epsilon > 0):
            problems.append(f"--target-epsilon must be a finite number > 0, got {args.target_epsilon}")
        if not (_finite(args.tolerance) and args.tolerance > 0):
            problems.append(f"--tolerance must be a finite number > 0, got {args.tolerance}")
    if not (_finite(args.sample_rate) and 0 < args.sample_rate <= 1):
        problems.append(f"--sample-rate must be in (0, 1], got {args.sample_rate}")
    if args.steps is not None and args.steps < 1:
        problems.append(f"--steps must be >= 1, got {args.steps}")
    if args.epochs is not None:
        if not (_finite(args.epochs) and args.epochs > 0):
            problems.append(f"--epochs must be a finite number > 0, got {args.epochs}")
        elif _finite(args.sample_rate) and 0 < args.sample_rate <= 1 and int(args.epochs / args.sample_rate) < 1:
            problems.append(f"--epochs {args.epochs:g} at --sample-rate {args.sample_rate:g} is less than one step; "
                            "give more epochs or --steps")
    if not (_finite(args.delta) and 0 < args.delta < 1):
        problems.append(f"--delta must be in (0, 1), got {args.delta}")
    if args.accountant not in ACCOUNTANTS:
        problems.append(f"--accountant must be one of {', '.join(ACCOUNTANTS)}, got '{args.accountant}'")
    return problems


def _handle(args) -> int:
    import json
    import warnings

    from evalsuite.privacy.accounting import steps_for

    problems = schedule_problems(args)
    if problems:
        raise UserError("; ".join(problems))
    steps = args.steps if args.steps is not None else steps_for(args.epochs, args.sample_rate)
    out = {"accountant": args.accountant, "sample_rate": args.sample_rate, "steps": steps, "delta": args.delta}
    try:
        with warnings.catch_warnings():
            # Opacus' notices (GDP "experimental", RDP's alpha range, PRV's log(0)) are not results; the output
            # names the accountant instead.
            warnings.simplefilter("ignore")
            out = _compute(args, steps, out)
    except (ValueError, ArithmeticError, RuntimeError) as exc:
        raise UserError(f"the {args.accountant} accountant cannot compute this schedule ({str(exc).strip()}); "
                        "try another --accountant, or fewer --steps") from None
    if args.json:
        print(json.dumps(out))
    elif args.privacy_command == "noise":
        print(f"noise_multiplier {out['noise_multiplier']:.6g}  (epsilon {out['epsilon']:.4f} <= target "
              f"{args.target_epsilon:g}; accountant {args.accountant}, delta {args.delta:g}, sample_rate "
              f"{args.sample_rate:g}, steps {steps})")
    else:
        print(f"epsilon {out['epsilon']:.4f}  (accountant {args.accountant}, delta {args.delta:g}, noise_multiplier "
              f"{out['noise_multiplier']:g}, sample_rate {args.sample_rate:g}, steps {steps})")
    return 0


def _compute(args, steps: int, out: dict) -> dict:
    from evalsuite.privacy.accounting import epsilon_for, noise_for_epsilon

    if args.privacy_command == "noise":
        sigma = noise_for_epsilon(args.target_epsilon, args.delta, args.sample_rate, steps, args.accountant,
                                  tolerance=args.tolerance)
        out = {"noise_multiplier": sigma, "target_epsilon": args.target_epsilon, **out}
    else:
        sigma = args.noise_multiplier
        out = {"noise_multiplier": sigma, **out}
    out["epsilon"] = epsilon_for(sigma, args.sample_rate, steps, args.delta, args.accountant)
    return out
