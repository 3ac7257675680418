"""Endpoints that cannot be trusted are refused with one line naming the probe, before any task runs.

The real case first: llama-cpp-python serving a GGUF that adds no BOS token answers
200 OK with prompt logprobs shifted by one token (each prompt token is scored with
the next position's distribution). Then a proxy in front of the good server breaks
answers on purpose: logprobs dropped, jittered, a token missing, garbage, wrong shapes.
"""

from __future__ import annotations

import pytest

from served_helpers import NOBOS_MODEL, FaultProxy, served_args

from evalsuite.errors import UserError
from evalsuite.models.factory import load_model
from evalsuite.models.hf import HFCausalLM
from evalsuite.requests import Loglikelihood

REQUESTS = [Loglikelihood(c, k) for c in ("the cat sat on the", "alice lives in paris and bob works as a")
            for k in (" mat", " baker near the river")]


@pytest.fixture(scope="module")
def proxy(llama_server):
    p = FaultProxy(llama_server.url)
    yield p
    p.close()


@pytest.fixture(autouse=True)
def _reset(request):
    yield
    if "proxy" in request.fixturenames:
        p = request.getfixturevalue("proxy")
        p.mode, p.storm, p.after_completion = None, 0, None


def _open(url, hf, **more):
    return load_model(f"openai-completions:{url}", **served_args(hf, **more))


def _one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message and isinstance(exc.value, UserError)
    return message


def test_llama_server_without_bos_is_refused_for_shifted_logprobs(llama_server, served_weights, api_key_env):
    with pytest.raises(UserError) as exc:
        _open(llama_server.url, served_weights[0], model=NOBOS_MODEL)
    message = _one_line(exc)
    assert "failed the self-check 'greedy agrees'" in message
    assert "shifted by one token" in message and "skip_self_check=true" in message


def test_what_the_check_prevents_the_unchecked_numbers_are_wrong(llama_server, served_weights, api_key_env):
    lm = _open(llama_server.url, served_weights[0], model=NOBOS_MODEL, skip_self_check=True)
    assert lm.self_check == {"skipped": True} and lm.server_adds_bos is False
    served = lm.loglikelihood(REQUESTS)
    oracle = HFCausalLM(str(served_weights[0]), device="cpu", progress=False).loglikelihood(REQUESTS)
    assert [s.n_tokens for s in served] == [o.n_tokens for o in oracle]  # same tokens...
    assert max(abs(s.logprob - o.logprob) for s, o in zip(served, oracle)) > 0.1  # ...wrong numbers


@pytest.mark.parametrize("mode, probe, cause", [
    ("drop_logprobs", "prompt logprobs", "ignores echo/logprobs"),
    ("drop_first_token", "token count", "tokenizers differ"),
    ("noise", "deterministic", "nondeterministically"),
])
def test_a_server_failing_a_probe_is_refused_naming_it(proxy, served_weights, api_key_env, mode, probe, cause):
    proxy.mode = mode
    with pytest.raises(UserError) as exc:
        _open(proxy.url, served_weights[0], max_retries=0)
    message = _one_line(exc)
    assert f"failed the self-check '{probe}'" in message and cause in message


@pytest.mark.parametrize("mode, words", [("garbage", "not JSON"), ("wrong_shape", "wrong shape")])
def test_garbage_and_wrong_shapes_are_one_line(proxy, served_weights, api_key_env, mode, words):
    proxy.mode = mode
    with pytest.raises(UserError) as exc:
        _open(proxy.url, served_weights[0], max_retries=0)
    assert words in _one_line(exc)


def test_a_wrong_local_tokenizer_is_refused(llama_server, tmp_path, api_key_env):
    from served_helpers import build_tiny_gpt2, WORDS

    other = build_tiny_gpt2(tmp_path / "other", seed=1, words=WORDS[::-1][:12])  # a different, smaller vocabulary
    with pytest.raises(UserError) as exc:
        _open(llama_server.url, other)
    assert "'token count'" in _one_line(exc)


def test_without_a_local_tokenizer_the_servers_tokenize_endpoint_is_used(llama_server, served_weights, api_key_env):
    args = served_args(served_weights[0])
    del args["tokenizer"]
    lm = load_model(f"openai-completions:{llama_server.url}", **args)
    assert lm.tokenize_path == "//extras/tokenize" and lm.server_adds_bos is True
    with_tokenizer = _open(llama_server.url, served_weights[0])
    assert lm.loglikelihood(REQUESTS) == with_tokenizer.loglikelihood(REQUESTS)
    assert lm.fingerprint()["probe_sha256"] == with_tokenizer.fingerprint()["probe_sha256"]


def test_a_missing_or_wrong_api_key_is_one_line(llama_server, served_weights, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", "sk-wrong")
    with pytest.raises(UserError) as exc:
        _open(llama_server.url, served_weights[0], api_key_env="WRONG_KEY")
    message = _one_line(exc)
    assert "HTTP 401" in message and "sk-wrong" not in message


def test_chat_endpoint_generates_and_refuses_scoring(llama_server, served_weights, api_key_env):
    from evalsuite.requests import Generate

    args = {k: v for k, v in served_args(served_weights[0]).items() if k != "tokenizer"}
    chat = load_model(f"openai-chat:{llama_server.url}", **args)
    assert chat.self_check == {"passed": ["shape", "deterministic"]}
    requests = [Generate("alice lives in", (), 6), Generate("the cat sat", ("\n",), 6)]
    texts = chat.generate(requests)
    assert len(texts) == 2 and all(isinstance(t, str) and "\n" not in t for t in texts)
    assert chat.generate(requests) == texts
    with pytest.raises(UserError, match="openai-completions"):
        chat.loglikelihood(REQUESTS)
