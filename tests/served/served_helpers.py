"""Helpers for the served-model tests: the tiny model, its GGUF files, the server, a fault proxy.

The model is a randomly initialised 2-layer GPT-2 (hidden 64) with a byte-level
BPE tokenizer, saved with save_pretrained; it is written to GGUF (f32) with the
`gguf` package, the same tensor layout llama.cpp's converter gives GPT-2
(Conv1D weights transposed, output tied to the embeddings), twice: one file whose
tokenizer adds a BOS token to every prompt and one that adds none. One server
(llama-cpp-python, `logits_all`) serves both under two names for the whole
session; the HF engine on the same weights is the oracle. Tests skip, saying
why, only when llama_cpp (or gguf) is not installed (scripts/bootstrap.sh
--tests installs both).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

API_KEY = "sk-test-not-a-real-key-8c1f"  # what the session server demands; tests check it is never written
API_KEY_ENV = "EVALSUITE_TEST_API_KEY"
BOS = "<|endoftext|>"  # the tiny tokenizer's BOS (= EOS) token text
BOS_MODEL, NOBOS_MODEL = "tiny", "tiny-nobos"
WORDS = ("the cat sat on the mat while alice lives in paris and bob works as a baker near the river carol plays "
         "the violin every evening dave reads old maps in the library where is it what does").split()


def require_backends():
    missing = [m for m in ("llama_cpp", "gguf") if _missing(m)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: run scripts/bootstrap.sh --tests "
                    "(installs llama-cpp-python[server] and gguf)")


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def build_tiny_gpt2(folder: Path, seed: int = 0, words: tuple[str, ...] | list[str] = WORDS) -> Path:
    """A random 2-layer GPT-2 (hidden 64, 256 positions) and a byte-level BPE tokenizer trained on `words`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    words = list(words)
    tok.train_from_iterator([" ".join(words[i:] + words[:i]) for i in range(len(words))] * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=64, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_gguf(folder: Path, out: Path, *, add_bos: bool) -> Path:
    """GPT-2 weights and tokenizer from `folder` as an f32 GGUF file llama.cpp loads."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    cfg = json.loads((folder / "config.json").read_text())
    n_layer, n_embd = cfg["n_layer"], cfg["n_embd"]
    writer = gguf.GGUFWriter(str(out), "gpt2")
    writer.add_name("tiny-gpt2")
    writer.add_context_length(cfg["n_positions"])
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(cfg.get("n_inner") or 4 * n_embd)
    writer.add_block_count(n_layer)
    writer.add_head_count(cfg["n_head"])
    writer.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    tokenizer = AutoTokenizer.from_pretrained(folder)
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    special = set(tokenizer.all_special_ids)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # the GPT-2 regex: what ByteLevel(use_regex=True) splits on
    writer.add_token_list([by_id[i] for i in range(len(by_id))])
    writer.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                            for i in range(len(by_id))])
    merges = json.loads((folder / "tokenizer.json").read_text())["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_add_bos_token(add_bos)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GPT2, n_layer)
    tensors = load_file(str(folder / "model.safetensors"))
    for key, value in sorted(tensors.items()):
        if key.endswith((".attn.bias", ".attn.masked_bias")) or key == "lm_head.weight":
            continue
        if key.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            value = value.T  # HF Conv1D stores (in, out); ggml wants (out, in), as the converter writes it
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        assert name is not None, f"no GGUF name for {key}"
        writer.add_tensor(name, np.ascontiguousarray(value, dtype=np.float32))
    writer.add_tensor("output.weight", np.ascontiguousarray(tensors["transformer.wte.weight"], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A llama-cpp-python server process on 127.0.0.1 (started and stopped by the tests)."""

    def __init__(self, models: dict[str, Path], workdir: Path, *, port: int | None = None,
                 api_key: str | None = None):
        self.models, self.workdir, self.api_key = models, workdir, api_key
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> "Server":
        config = {"host": "127.0.0.1", "port": self.port, "api_key": self.api_key,
                  "models": [{"model": str(path), "model_alias": alias, "logits_all": True, "n_ctx": 256,
                              "n_batch": 256, "n_threads": 1, "n_threads_batch": 1, "seed": 0, "verbose": False}
                             for alias, path in self.models.items()]}
        cfg = self.workdir / f"server-{self.port}.json"
        cfg.write_text(json.dumps(config))
        self.log = (self.workdir / f"server-{self.port}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--config_file", str(cfg)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {(self.workdir / f'server-{self.port}.log').read_text()[-2000:]}")
            try:
                req = urllib.request.Request(self.url + "/models",
                                             headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})
                with urllib.request.urlopen(req, timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("llama.cpp server did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None
        with contextlib.suppress(Exception):
            self.log.close()


# Request fields every test sends this server: llama.cpp penalises repeats (1.1) unless told not to.
LLAMA_EXTRA = "repeat_penalty:1.0"


def served_args(hf_folder: Path, **more) -> dict:
    """--model-args for the session server's BOS model, with the local tokenizer."""
    return {"model": BOS_MODEL, "tokenizer": str(hf_folder), "api_key_env": API_KEY_ENV, "extra": LLAMA_EXTRA,
            "retry_wait": 0.05, "progress": False, **more}




def lmeval_pair_folder(folder: Path) -> Path:
    """lm-eval YAML tasks (multiple choice, generation) over 8 local docs, each with a twin whose prompt starts
    with the BOS text: the HF engine on a twin sees what the BOS-adding server sees on the original."""
    names = ["alice", "bob", "carol", "dave"]
    rows = [{"question": f"{names[i % 4]} reads {['old maps', 'the violin'][i // 4]} near the river. where does "
                         f"{names[i % 4]} live?",
             "choices": ["paris", "the library", "near the river", "on the mat"], "label": i % 4} for i in range(8)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / 'data.jsonl'}\ntest_split: test\n"
    for suffix, prefix in (("", ""), ("_bos", BOS)):
        (folder / f"served_mc{suffix}.yaml").write_text(
            f'task: served_mc{suffix}\n{common}output_type: multiple_choice\n'
            f'doc_to_text: "{prefix}Q: {{{{question}}}}\\nA:"\ndoc_to_choice: "{{{{choices}}}}"\n'
            'doc_to_target: label\nmetric_list:\n  - metric: acc\n')
        (folder / f"served_gen{suffix}.yaml").write_text(
            f'task: served_gen{suffix}\n{common}output_type: generate_until\n'
            f'doc_to_text: "{prefix}Q: {{{{question}}}}\\nA:"\ndoc_to_target: "{{{{choices[label]}}}}"\n'
            'generation_kwargs:\n  until: ["\\n"]\n  max_gen_toks: 8\n  do_sample: false\n'
            'metric_list:\n  - metric: exact_match\n')
    return folder


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of a server, breaking answers on purpose.

    `mode`: None (pass through), "drop_logprobs", "noise" (random jitter on prompt logprobs), "garbage"
    (not JSON), "wrong_shape" (no choices), "drop_first_token" (a token fewer than the tokenizer's).
    `storm`: every n-th request (n = storm) is answered 429 without reaching the server.
    `after_completion(n)` is called with the count of completions forwarded (e.g. to kill the server).
    """

    def __init__(self, upstream: str):
        import http.server
        import threading

        self.upstream = upstream.rstrip("/")
        self.mode, self.storm, self.after_completion = None, 0, None
        self.seen = 0
        self.completions: list[str] = []  # prompts forwarded to /completions and answered
        self.rejected = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._handle(self, None)

            def do_POST(self):
                proxy._handle(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _reply(self, handler, status: int, payload: bytes):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _handle(self, handler, body: bytes | None):
        import random
        import urllib.error

        with self._lock:
            self.seen += 1
            storm = self.storm and self.seen % self.storm == 0
        if storm:
            with self._lock:
                self.rejected += 1
            return self._reply(handler, 429, b'{"error": {"message": "rate limited"}}')
        root = self.upstream.rsplit("/v1", 1)[0]
        req = urllib.request.Request(root + handler.path, data=body, method=handler.command,
                                     headers={k: v for k, v in handler.headers.items()
                                              if k.lower() in ("authorization", "content-type")})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        except OSError:
            return self._reply(handler, 502, b'{"error": "upstream down"}')
        is_completion = handler.path.endswith("/completions") and status == 200
        if is_completion and self.mode:
            data = json.loads(payload)
            lp = data["choices"][0].get("logprobs")
            if self.mode == "garbage":
                payload = b"<html>502 Bad Gateway</html>"
            elif self.mode == "wrong_shape":
                payload = json.dumps({"result": data["choices"][0].get("text")}).encode()
            elif self.mode == "drop_logprobs":
                data["choices"][0]["logprobs"] = None
                payload = json.dumps(data).encode()
            elif lp and self.mode == "noise":
                lp["token_logprobs"] = [None if v is None else v - random.random() * 0.1
                                        for v in lp["token_logprobs"]]
                payload = json.dumps(data).encode()
            elif lp and self.mode == "drop_first_token":
                for key in ("tokens", "token_logprobs", "text_offset", "top_logprobs"):
                    lp[key] = lp[key][1:]
                payload = json.dumps(data).encode()
        self._reply(handler, status, payload)
        if is_completion and body:
            with self._lock:
                self.completions.append(json.loads(body).get("prompt"))
                count = len(self.completions)
            if self.after_completion is not None:
                self.after_completion(count)
