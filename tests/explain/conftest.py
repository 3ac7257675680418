"""Fixtures for the explanation tests: the planted-token classifier and the shipped demo LM."""

from __future__ import annotations

import pytest

from explain_fixtures import build_planted_classifier


@pytest.fixture(scope="session")
def planted_classifier(limited_threads):
    with limited_threads(2):
        return build_planted_classifier()


@pytest.fixture(scope="session")
def demo_lm():
    from evalsuite.demo import WEIGHTS_DIR
    from evalsuite.models.hf import HFCausalLM

    return HFCausalLM(str(WEIGHTS_DIR), name="demo", progress=False)
