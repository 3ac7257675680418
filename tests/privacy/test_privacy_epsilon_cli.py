"""`evalsuite privacy epsilon|noise` against Opacus' accountants called directly (stepped one step at a time, as
the DP optimizer does) and DESIGN.md's published oracle; bad input is one line, exit 2."""

from __future__ import annotations

import contextlib
import json
import warnings

import pytest

from evalsuite.cli import main

# (sigma, sample rate, steps, delta): sample rates that are not 1/k included.
SCHEDULES = [(0.8, 0.013, 500, 1e-5), (2.0, 0.3, 40, 1e-6), (1.3, 0.37, 25, 1e-5), (1.0, 0.01, 300, 1e-5)]


def _json(capsys, argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@contextlib.contextmanager
def _quiet():
    """Opacus' notices (GDP is experimental, RDP's alpha range) silenced: they are not results."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _opacus_epsilon(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float:
    from opacus.accountants import GaussianAccountant, PRVAccountant, RDPAccountant

    with _quiet():
        acc = {"prv": PRVAccountant, "rdp": RDPAccountant, "gdp": GaussianAccountant}[accountant]()
        for _ in range(steps):
            acc.step(noise_multiplier=sigma, sample_rate=q)
        return acc.get_epsilon(delta=delta)


@pytest.mark.parametrize("accountant", ["prv", "rdp", "gdp"])
@pytest.mark.parametrize("sigma, q, steps, delta", SCHEDULES)
def test_epsilon_equals_opacus_accountant(capsys, accountant, sigma, q, steps, delta):
    out = _json(capsys, ["privacy", "epsilon", "--noise-multiplier", str(sigma), "--sample-rate", str(q),
                         "--steps", str(steps), "--delta", str(delta), "--accountant", accountant])
    assert out["accountant"] == accountant and out["steps"] == steps
    assert out["epsilon"] == pytest.approx(_opacus_epsilon(accountant, sigma, q, steps, delta), rel=1e-6)


@pytest.mark.parametrize("accountant, oracle", [("rdp", 2.597), ("prv", 2.392)])
def test_epsilon_matches_the_published_oracle_with_epochs(capsys, accountant, oracle):
    # DESIGN.md: sigma 1.1, batch 256, N 60000, 60 epochs, delta 1e-5.
    out = _json(capsys, ["privacy", "epsilon", "--noise-multiplier", "1.1", "--sample-rate", repr(256 / 60000),
                         "--epochs", "60", "--delta", "1e-5", "--accountant", accountant])
    assert out["steps"] == 14062 and out["epsilon"] == pytest.approx(oracle, abs=1e-3)


def test_default_accountant_is_prv_and_the_line_names_it(capsys):
    assert main(["privacy", "epsilon", "--noise-multiplier", "0.8", "--sample-rate", "0.013", "--steps", "500",
                 "--delta", "1e-5"]) == 0
    line = capsys.readouterr().out.strip()
    eps = _opacus_epsilon("prv", 0.8, 0.013, 500, 1e-5)
    assert line.startswith(f"epsilon {eps:.4f}") and "accountant prv" in line


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_noise_equals_opacus_get_noise_multiplier_and_round_trips(capsys, accountant):
    from opacus.accountants.utils import get_noise_multiplier

    out = _json(capsys, ["privacy", "noise", "--target-epsilon", "3", "--sample-rate", "0.013", "--steps", "500",
                         "--delta", "1e-5", "--accountant", accountant])
    with _quiet():
        expected = get_noise_multiplier(target_epsilon=3.0, target_delta=1e-5, sample_rate=0.013, steps=500,
                                        accountant=accountant, epsilon_tolerance=0.01)
    assert out["noise_multiplier"] == pytest.approx(expected, rel=1e-9)
    assert 3.0 - 0.011 <= out["epsilon"] <= 3.0
    assert out["epsilon"] == pytest.approx(_opacus_epsilon(accountant, expected, 0.013, 500, 1e-5), rel=1e-6)


BAD = [
    (["epsilon", "--noise-multiplier", "0", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"],
     "--noise-multiplier must be a finite number > 0"),
    (["epsilon", "--noise-multiplier", "nan", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"],
     "--noise-multiplier must be a finite number > 0"),
    (["epsilon", "--noise-multiplier", "1", "--sample-rate", "1.5", "--steps", "10", "--delta", "1e-5"],
     "--sample-rate must be in (0, 1]"),
    (["epsilon", "--noise-multiplier", "1", "--sample-rate", "0.1", "--steps", "0", "--delta", "1e-5"],
     "--steps must be >= 1"),
    (["epsilon", "--noise-multiplier", "1", "--sample-rate", "0.1", "--epochs", "0.01", "--delta", "1e-5"],
     "less than one step"),
    (["epsilon", "--noise-multiplier", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1"],
     "--delta must be in (0, 1)"),
    (["epsilon", "--noise-multiplier", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5",
      "--accountant", "moments"], "--accountant must be one of prv, rdp, gdp"),
    (["epsilon", "--noise-multiplier", "one", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"],
     "invalid float value: 'one'"),
    (["epsilon", "--noise-multiplier", "1", "--sample-rate", "0.1", "--delta", "1e-5"], "--steps --epochs"),
    (["noise", "--target-epsilon", "-1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"],
     "--target-epsilon must be a finite number > 0"),
    (["noise", "--target-epsilon", "1e-4", "--sample-rate", "1", "--steps", "1000", "--delta", "1e-5",
      "--accountant", "rdp"], "no noise multiplier reaches epsilon"),
    (["bogus"], "invalid choice: 'bogus'"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(b[0][:2]) + f"-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_one_line_exit_2(capsys, argv, fragment):
    code = main(["privacy", *argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("evalsuite: error: "), captured.err
    assert fragment in lines[0] and captured.out == "", lines[0]
