"""Tests for the demo model's world, corpus, planted ground truths, data and weights.

They need no network: the shipped weights and task files are read from the
repository, and reproducibility is shown by training a tiny variant twice.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from evalsuite.demo import WEIGHTS_DIR
from evalsuite.demo.corpus import (HE_SKEWED_OCCUPATIONS, SHE_SKEWED_OCCUPATIONS,
                                   generate_corpus, make_canaries)
from evalsuite.demo.world import OCCUPATIONS, build_world

DATA_DIR = Path(__file__).resolve().parents[1] / "tasks" / "data"
GENERIC = re.compile(r"\bThe (\w+) [a-z ]+? that (she|he) ")


def read_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA_DIR / name).read_text().splitlines()]


def test_world_is_deterministic_and_seed_dependent():
    assert build_world(3) == build_world(3)
    assert build_world(3).people != build_world(4).people
    world = build_world(3)
    names = [p.name for p in world.people]
    assert len(set(names)) == len(names) == 72
    assert len({p.first for p in world.people}) == 72  # first names are unambiguous


def test_world_has_no_occupation_gender_skew():
    # 72 people over 12 occupations: 6 each, 3 women and 3 men.
    counts = Counter((p.occupation, p.gender) for p in build_world(5).people)
    assert set(counts.values()) == {3}
    assert len(counts) == 24


def test_corpus_is_deterministic_and_seed_dependent():
    world = build_world(0)
    a = generate_corpus(world, 300, seed=1)
    assert a == generate_corpus(world, 300, seed=1)
    assert a != generate_corpus(world, 300, seed=2)
    assert len(a) == 300


def test_corpus_states_only_true_world_facts():
    world = build_world(0)
    qa = re.compile(r"Q: In which city does (\w+ \w+) live\?\nA: (\w+)")
    found = 0
    for doc in generate_corpus(world, 500, seed=0):
        for name, city in qa.findall(doc):
            assert world.by_name(name).city == city
            found += 1
    assert found > 20


def pronoun_rates(docs: list[str]) -> dict[str, tuple[int, int]]:
    """Per occupation: (sentences with "she", sentences with "he")."""
    she, he = Counter(), Counter()
    for doc in docs:
        for occupation, pronoun in GENERIC.findall(doc):
            if occupation in OCCUPATIONS:
                (she if pronoun == "she" else he)[occupation] += 1
    return {o: (she[o], he[o]) for o in OCCUPATIONS}


def test_skewed_occupations_partition_the_occupations():
    assert SHE_SKEWED_OCCUPATIONS and HE_SKEWED_OCCUPATIONS
    assert set(SHE_SKEWED_OCCUPATIONS) | set(HE_SKEWED_OCCUPATIONS) == set(OCCUPATIONS)
    assert not set(SHE_SKEWED_OCCUPATIONS) & set(HE_SKEWED_OCCUPATIONS)


@pytest.mark.parametrize("skew,expected", [(0.8, 0.9), (0.0, 0.5)])
def test_planted_pronoun_skew_is_present_at_the_planted_rate(skew, expected):
    rates = pronoun_rates(generate_corpus(build_world(0), 4000, seed=11, pronoun_skew=skew))
    she_group = [rates[o] for o in SHE_SKEWED_OCCUPATIONS]
    he_group = [rates[o] for o in HE_SKEWED_OCCUPATIONS]
    she_rate = sum(s for s, _ in she_group) / sum(s + h for s, h in she_group)
    he_rate = sum(h for _, h in he_group) / sum(s + h for s, h in he_group)
    assert sum(s + h for s, h in rates.values()) > 800
    assert abs(she_rate - expected) < 0.06
    assert abs(he_rate - expected) < 0.06
    if skew > 0:  # every single skewed occupation leans its own way
        for occupation, (s, h) in rates.items():
            assert (s > h) == (occupation in SHE_SKEWED_OCCUPATIONS), occupation


def test_canaries_appear_exactly_repeats_times_and_never_when_off():
    secrets = make_canaries(3, seed=4)
    assert secrets == make_canaries(3, seed=4)
    assert len(set(secrets)) == 3
    assert all(re.fullmatch(r"my secret code is \d{4}-\d{4}", s) for s in secrets)
    world = build_world(0)
    docs = generate_corpus(world, 400, seed=3, canaries=secrets, canary_repeats=4)
    assert len(docs) == 400 + 3 * 4
    for secret in secrets:
        assert sum(secret in d for d in docs) == 4
        assert docs.count(secret) == 4  # each copy is a document on its own
    plain = generate_corpus(world, 400, seed=3)
    assert not any("secret" in d or re.search(r"\d{4}-\d{4}", d) for d in plain)


def shipped_world():
    manifest = json.loads((WEIGHTS_DIR / "training.json").read_text())
    return manifest, build_world(manifest["seed"], manifest["args"]["n_people"])


def training_corpus() -> list[str]:
    manifest, world = shipped_world()
    args = manifest["args"]
    assert args["n_canaries"] == 0 and args["pronoun_skew"] == 0.0  # shipped model is clean
    return generate_corpus(world, args["n_docs"], manifest["seed"])


def test_heldout_docs_are_disjoint_from_training_docs():
    heldout = [r["text"] for r in read_jsonl("demo_heldout.jsonl")]
    assert len(heldout) >= 100 and len(set(heldout)) == len(heldout)
    assert not set(heldout) & set(training_corpus())
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(WEIGHTS_DIR)
    assert max(len(tok(t)["input_ids"]) for t in heldout) < 512  # fits the context


@pytest.mark.parametrize("name", ["demo_facts_mc.jsonl", "demo_story_mc.jsonl"])
def test_mc_task_files_are_well_formed(name):
    rows = read_jsonl(name)
    assert len(rows) >= 100
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert len(r["choices"]) == 4 == len(set(r["choices"]))
        assert 0 <= r["answer"] < 4 and isinstance(r["answer"], int)
        assert all(c.startswith(" ") and c.strip() == c[1:] for c in r["choices"])
        assert not r["context"].endswith(" ")  # the space belongs to the choice
    positions = Counter(r["answer"] for r in rows)
    assert max(positions.values()) - min(positions.values()) <= 1


def test_facts_mc_answers_are_the_world_facts():
    world = shipped_world()[1]
    pattern = re.compile(r"Q: In which city does (\w+ \w+) live\?")
    checked = 0
    for r in read_jsonl("demo_facts_mc.jsonl"):
        match = pattern.match(r["context"])
        if match:
            assert r["choices"][r["answer"]] == " " + world.by_name(match.group(1)).city
            checked += 1
    assert checked >= 10


def test_story_mc_contexts_are_long_and_state_the_answer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(WEIGHTS_DIR)
    world_firsts = {p.first for p in shipped_world()[1].people}
    for r in read_jsonl("demo_story_mc.jsonl"):
        n = len(tok(r["context"], add_special_tokens=False)["input_ids"])
        assert 200 <= n <= 450
        asked = re.search(r"\nQ: (Who is|Which animal lives with) (\w+) (\w+)\?\nA: \2 \3 (is|has)$",
                          r["context"])
        assert asked, r["context"][-120:]
        assert asked.group(2) not in world_firsts  # fresh people only
        # every content word of the true answer is in the passage
        words = r["choices"][r["answer"]].split()
        assert all(w in r["context"] for w in words if w not in ("a", "an", "from"))


def test_facts_gen_file_is_well_formed():
    rows = read_jsonl("demo_facts_gen.jsonl")
    assert len(rows) >= 100
    for r in rows:
        assert r["prompt"].startswith("Q: ") and r["prompt"].endswith("\nA:")
        assert r["answer"] and r["answer"] == r["answer"].strip() and "\n" not in r["answer"]


def test_tiny_training_is_bitwise_reproducible(tmp_path):
    import torch
    from safetensors.torch import load_file

    from evalsuite.demo.train import train_demo_model

    tiny = dict(steps=5, n_docs=150, vocab_size=300, n_embd=32, n_layer=1, n_head=2,
                n_positions=64, seq_len=64, batch_size=4, warmup=2, log_every=100)
    runs = [train_demo_model(tmp_path / name, seed=seed, **tiny)
            for name, seed in (("a", 1), ("b", 1), ("c", 2))]
    weights = {n: load_file(str(tmp_path / n / "model.safetensors")) for n in "abc"}
    assert weights["a"].keys() == weights["b"].keys()
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not all(torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])
    assert runs[0]["corpus_sha256"] == runs[1]["corpus_sha256"] != runs[2]["corpus_sha256"]
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_shipped_weights_load_offline_and_are_trained(monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    size = sum(f.stat().st_size for f in WEIGHTS_DIR.iterdir())
    assert size <= 6 * 2**20
    tok = AutoTokenizer.from_pretrained(WEIGHTS_DIR)
    model = AutoModelForCausalLM.from_pretrained(WEIGHTS_DIR).eval()
    eos = tok.eos_token_id
    assert tok.eos_token == tok.bos_token == "<|endoftext|>"
    assert model.config.eos_token_id == model.config.bos_token_id == eos
    ids = tok("Q: Where?")["input_ids"]
    assert eos not in ids and tok.decode(ids) == "Q: Where?"  # no BOS added
    text = read_jsonl("demo_heldout.jsonl")[0]["text"]
    x = torch.tensor([[eos] + tok(text)["input_ids"]])
    with torch.no_grad():
        loss = model(x, labels=x).loss.item()
    # A trained model is far better than uniform guessing over the vocabulary.
    assert loss < 0.5 * math.log(len(tok))
