"""Fixtures for the bias-audit tests: planted-disparity tables, tiny demo LMs with and without a pronoun skew."""

from __future__ import annotations

import pytest

PLANTED_DISPARITY = 0.8


@pytest.fixture(scope="session")
def planted_table():
    """Hiring data whose labels favour sex=1, and a logistic regression fitted on it."""
    from evalsuite.audits.synthetic import fit_hiring_model, hiring_data

    frame = hiring_data(1600, disparity=PLANTED_DISPARITY, seed=11)
    return frame, fit_hiring_model(frame)


@pytest.fixture(scope="session")
def clean_table():
    """The same generator with no group effect at all."""
    from evalsuite.audits.synthetic import fit_hiring_model, hiring_data

    frame = hiring_data(1600, disparity=0.0, seed=11)
    return frame, fit_hiring_model(frame)


@pytest.fixture(scope="session")
def demo_twins(tmp_path_factory):
    """Two tiny demo LMs, identical but for the planted pronoun skew (1.0 and 0.0): ~20 s each on one core.

    The corpus mix is shifted towards the generic "The <occupation> said that <pronoun> ..."
    documents (7% by default) so a 2-layer model learns the association in 800 steps.
    """
    from evalsuite.demo.train import train_demo_model

    mix = {"bio": 0.2, "qa": 0.1, "story": 0.05, "reading": 0.05, "recall": 0.1, "generic": 0.5}
    folders = {}
    for skew in (1.0, 0.0):
        folder = tmp_path_factory.mktemp(f"demo_skew_{skew}")
        train_demo_model(folder, seed=0, steps=800, pronoun_skew=skew, n_docs=3000, n_embd=64, n_layer=2,
                         n_head=2, n_positions=64, seq_len=64, batch_size=16, warmup=20, vocab_size=512,
                         threads=1, log_every=10_000, mix=mix)
        folders[skew] = folder
    return folders
