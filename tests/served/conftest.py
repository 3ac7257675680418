"""Fixtures: one real OpenAI-compatible server on 127.0.0.1 for the session, and the model it serves.

llama-cpp-python's server serves a tiny GPT-2 built here (served_helpers) under
two names, one GGUF whose tokenizer adds BOS and one that adds none. Tests skip,
saying why, only when llama_cpp or gguf is not installed.
"""

from __future__ import annotations

import os

import pytest

from served_helpers import (API_KEY, API_KEY_ENV, BOS_MODEL, NOBOS_MODEL, Server, build_tiny_gpt2,
                            require_backends, write_gguf)


@pytest.fixture(scope="session")
def served_weights(tmp_path_factory):
    """(HF folder, {alias: gguf file}) for the tiny model, built once per session."""
    require_backends()
    root = tmp_path_factory.mktemp("served_model")
    hf = build_tiny_gpt2(root / "hf")
    return hf, {BOS_MODEL: write_gguf(hf, root / "tiny-bos.f32.gguf", add_bos=True),
                NOBOS_MODEL: write_gguf(hf, root / "tiny-nobos.f32.gguf", add_bos=False)}


@pytest.fixture(scope="session")
def llama_server(served_weights, tmp_path_factory):
    """One llama-cpp-python server for the session, serving both GGUF files; it demands API_KEY."""
    server = Server(served_weights[1], tmp_path_factory.mktemp("llama_server"), api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_key_env():
    """The name of the environment variable holding the server's key (set for the session)."""
    old = os.environ.get(API_KEY_ENV)
    os.environ[API_KEY_ENV] = API_KEY
    yield API_KEY_ENV
    if old is None:
        os.environ.pop(API_KEY_ENV, None)
    else:
        os.environ[API_KEY_ENV] = old


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the adapters' default key variable: never a real key here
