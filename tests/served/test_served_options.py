"""The served adapters' options and failures that need no server: resolved and refused before any work."""

from __future__ import annotations

import importlib.util

import pytest

from served_helpers import free_port

from evalsuite.errors import MissingDependency, UserError
from evalsuite.models.factory import load_model, resolve_model_spec


def test_a_url_source_selects_the_adapter_and_options_are_typed():
    spec = resolve_model_spec("openai-completions:http://127.0.0.1:8000/v1",
                              {"concurrency": "16", "extra": "repeat_penalty:1.0|top_k:1", "skip_self_check": "yes"})
    assert spec.adapter == "evalsuite/openai-completions" and spec.target == "http://127.0.0.1:8000/v1"
    assert spec.options["concurrency"] == 16 and spec.options["skip_self_check"] is True
    assert spec.options["extra"] == ["repeat_penalty:1.0", "top_k:1"]
    assert resolve_model_spec("openai-chat:http://h:1/v1").adapter == "evalsuite/openai-chat"
    assert resolve_model_spec("vllm:/some/folder").adapter == "evalsuite/vllm"


def test_bad_options_are_refused_together_and_there_is_no_key_option():
    with pytest.raises(UserError) as exc:
        resolve_model_spec("openai-completions:http://127.0.0.1:8000/v1",
                           {"concurrency": "0", "timeout": "-1", "api_key": "sk-secret"})
    message = str(exc.value)
    assert "concurrency" in message and "timeout" in message and "no option 'api_key'" in message
    assert "api_key_env" in message  # the closest declared name: the variable's name, never the key


@pytest.mark.parametrize("url, words", [("ftp://127.0.0.1/v1", r"not an http\(s\) URL"),
                                        ("http://user:sk-x@127.0.0.1:1/v1", "holds credentials")])
def test_bad_urls_are_one_line(url, words):
    with pytest.raises(UserError, match=words) as exc:
        load_model(f"openai-completions:{url}")
    assert "sk-x" not in str(exc.value)


def test_a_server_that_is_not_there_is_one_line_after_the_retries():
    port = free_port()
    with pytest.raises(UserError) as exc:
        load_model(f"openai-completions:http://127.0.0.1:{port}/v1", max_retries=1, retry_wait=0.01)
    message = str(exc.value)
    assert "did not answer GET /v1/models after 2 tries" in message and "\n" not in message


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
@pytest.mark.parametrize("source, args", [("vllm:{}", {}), ("hf:{}", {"backend": "vllm"})])
def test_vllm_without_the_extra_names_it(tmp_path, source, args):
    with pytest.raises(MissingDependency, match=r"pip install 'evalsuite\[vllm\]'"):
        load_model(source.format(tmp_path), **args)


@pytest.mark.parametrize("factory, cls", [("openai_completions", "openai:OpenAICompletionsLM"),
                                          ("openai_chat", "openai:OpenAIChatLM"),
                                          ("vllm", "vllm_backend:VLLMCausalLM")])
def test_each_served_adapter_takes_exactly_its_factorys_options(factory, cls):
    import importlib
    import inspect

    from evalsuite.models import builtin
    from evalsuite.options import declared_options

    module, _, name = cls.partition(":")
    params = inspect.signature(getattr(importlib.import_module(f"evalsuite.models.served.{module}"), name)).parameters
    keyword_only = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    assert set(declared_options(getattr(builtin, factory), skip=("spec",))) == keyword_only


def test_backend_vllm_selects_the_vllm_adapter_and_nothing_else_takes_it():
    assert resolve_model_spec("hf:/some/folder", {"backend": "vllm"}).adapter == "evalsuite/vllm"
    assert resolve_model_spec("hf:/some/folder", {"backend": "hf"}).adapter == "evalsuite/hf"
    with pytest.raises(UserError, match="not a backend"):
        resolve_model_spec("hf:/some/folder", {"backend": "tgi"})
    with pytest.raises(UserError, match="no option 'backend'"):
        resolve_model_spec("openai-completions:http://127.0.0.1:1/v1", {"backend": "vllm"})
