"""Shared fixtures: tiny real models and task folders built on the spot (no network)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("EVALSUITE_QUIET", "1")

WORDS = ("the cat sat on the mat while alice lives in paris and bob works as a baker near the river "
         "carol plays the violin every evening dave reads old maps in the library").split()


def build_tiny_lm(folder: Path, *, seed: int = 0, n_positions: int = 64) -> Path:
    """A randomly initialised 2-layer GPT-2 with a byte-level BPE tokenizer, saved with save_pretrained."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.fixture(scope="session")
def short_lm(tmp_path_factory) -> Path:
    """Same shape with a 16-token context, so truncation and rolling windows are exercised."""
    return build_tiny_lm(tmp_path_factory.mktemp("short_lm"), seed=1, n_positions=16)


@pytest.fixture(scope="session")
def lmeval_tasks(tmp_path_factory) -> Path:
    """A folder of lm-eval YAML tasks over local JSONL data: multiple choice, rolling, generation."""
    folder = tmp_path_factory.mktemp("lmeval_tasks")
    rows = []
    for i in range(12):
        name = ["alice", "bob", "carol", "dave"][i % 4]
        rows.append({"question": f"{name} reads old maps while the cat sat on the mat near the river. where does "
                                 f"{name} live?",
                     "choices": ["paris", "the library", "near the river", "on the mat"], "label": i % 4,
                     "text": " ".join(WORDS[i:] + WORDS[:i])})
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = f"""dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'data.jsonl'}
test_split: test
"""
    (folder / "toy_mc.yaml").write_text(f"""task: toy_mc
{common}output_type: multiple_choice
doc_to_text: "Q: {{{{question}}}}\\nA:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
""")
    (folder / "toy_ppl.yaml").write_text(f"""task: toy_ppl
{common}output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: bits_per_byte
""")
    (folder / "toy_gen.yaml").write_text(f"""task: toy_gen
{common}output_type: generate_until
doc_to_text: "Q: {{{{question}}}}\\nA:"
doc_to_target: "{{{{choices[label]}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
  do_sample: false
filter_list:
  - name: first_word
    filter:
      - function: regex
        regex_pattern: "([a-z]+)"
      - function: take_first
metric_list:
  - metric: exact_match
""")
    (folder / "toy_group.yaml").write_text("group: toy_group\ntask:\n  - toy_mc\n  - toy_ppl\n")
    return folder


@contextlib.contextmanager
def _limited_threads(n: int):
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(scope="session")
def limited_threads():
    """`with limited_threads(n): ...` runs the block on n torch threads and restores the old count after,
    so no test or fixture leaks its thread count into the rest of the session (for session fixtures)."""
    return _limited_threads


@pytest.fixture
def torch_threads():
    """`torch_threads(n)` sets torch's thread count for this test; the old count is restored after it."""
    with contextlib.ExitStack() as stack:
        yield lambda n: stack.enter_context(_limited_threads(n))


def pytest_collection_modifyitems(config, items):
    """GPU tests run where CUDA is present and are skipped (not failed) elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
