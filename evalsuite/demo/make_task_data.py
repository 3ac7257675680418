"""Write the built-in tasks' JSONL data from the demo model's own synthetic world.

``python -m evalsuite.demo.make_task_data [--out tasks/data] [--weights DIR]`` reads
the training manifest (``training.json``) next to the weights, rebuilds exactly the
world and corpus the model was trained on (checking the corpus hash), and writes:

- ``demo_facts_mc.jsonl``: closed-book multiple choice about world facts;
- ``demo_story_mc.jsonl``: long passages about fresh people, multiple choice;
- ``demo_heldout.jsonl``: held-out documents (not in the training corpus);
- ``demo_facts_gen.jsonl``: short-answer prompts about world facts.

Each file is a pure function of the manifest, so reruns give identical bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

from . import WEIGHTS_DIR
from .corpus import (article, generate_corpus, make_canaries, passage, passage_questions,
                     qa_pair)
from .world import ATTRIBUTE_VALUES, COLOURS, PETS, Person, World, build_world, make_people

# Offsets keep each file's randomness apart from the training corpus (seed + 0).
FACTS_OFFSET, GEN_OFFSET, STORY_OFFSET, HELDOUT_OFFSET = 101, 202, 20_000, 30_000
STORY_TOKENS = (250, 440)


def balanced_positions(rng: random.Random, n: int, k: int = 4) -> list[int]:
    positions = [i % k for i in range(n)]
    rng.shuffle(positions)
    return positions


def with_answer_at(correct: str, distractors: list[str], position: int) -> list[str]:
    choices = list(distractors)
    choices.insert(position, correct)
    return choices


def facts_mc(world: World, rng: random.Random, n: int = 200) -> list[dict]:
    pairs = [(p, a) for p in world.people for a in ATTRIBUTE_VALUES]
    chosen = rng.sample(pairs, n)
    rows = []
    for i, ((person, attribute), pos) in enumerate(zip(chosen, balanced_positions(rng, n))):
        context, answer = qa_pair(person, attribute)
        others = [v for v in ATTRIBUTE_VALUES[attribute] if v != answer]
        choices = with_answer_at(answer, rng.sample(others, 3), pos)
        rows.append({"id": f"facts-mc-{i:03d}", "context": context,
                     "choices": [" " + c for c in choices], "answer": pos})
    return rows


def facts_gen(world: World, rng: random.Random, n: int = 150) -> list[dict]:
    pairs = [(p, a) for p in world.people for a in ATTRIBUTE_VALUES]
    rows = []
    for i, (person, attribute) in enumerate(rng.sample(pairs, n)):
        prompt, answer = qa_pair(person, attribute)
        rows.append({"id": f"facts-gen-{i:03d}", "prompt": prompt, "answer": answer})
    return rows


def story_distractors(rng: random.Random, person: Person, others: list[Person], kind: str) -> list[str]:
    """Three wrong answers built from the passage itself, so copying any nearby
    phrase is not enough: the model has to bind the answer to the asked person."""
    def render(first: str, second: str) -> str:  # (occupation, city) or (colour, pet)
        joiner = " from " if kind == "who" else " "
        return f"{article(first)} {first}{joiner}{second}"

    if kind == "who":
        mine = (person.occupation, person.city)
        pool = [(o.occupation, o.city) for o in others]
    else:
        mine = (person.colour, person.pet)
        pool = [(o.colour, o.pet) for o in others]
    firsts = [a for a, _ in pool if a != mine[0]] or ["silver" if kind != "who" else "pilot"]
    seconds = [b for _, b in pool if b != mine[1]] or [PETS[0] if kind != "who" else "Lunport"]
    candidates = [(mine[0], rng.choice(seconds)), (rng.choice(firsts), mine[1])]
    candidates += [c for c in rng.sample(pool, len(pool)) if c[0] != mine[0] and c[1] != mine[1]]
    fallback_a = COLOURS if kind != "who" else ATTRIBUTE_VALUES["occupation"]
    fallback_b = PETS if kind != "who" else ATTRIBUTE_VALUES["city"]
    while len(candidates) < 12:  # random fillers in case the passage lacks variety
        candidates.append((rng.choice(fallback_a), rng.choice(fallback_b)))
    out: list[str] = []
    for c in candidates:
        text = render(*c)
        if c != mine and text not in out:
            out.append(text)
        if len(out) == 3:
            break
    return out


def story_mc(world: World, tokenizer, rng: random.Random, n: int = 100) -> list[dict]:
    exclude = {p.first for p in world.people}
    rows = []
    for i, pos in enumerate(balanced_positions(rng, n)):
        while True:  # redraw until the passage is long but fits the model
            people = make_people(rng, rng.randint(6, 9), exclude=exclude, balanced=False)
            text = passage(rng, people, rng.randint(8, 16))
            person = rng.choice(people)
            kind = "who" if i % 2 == 0 else "pet"
            question, answer = passage_questions(person)[0 if kind == "who" else 1]
            context = f"{text}\n{question}"
            n_tokens = len(tokenizer(context, add_special_tokens=False)["input_ids"])
            if STORY_TOKENS[0] <= n_tokens <= STORY_TOKENS[1]:
                break
        others = [p for p in people if p is not person]
        choices = with_answer_at(answer, story_distractors(rng, person, others, kind), pos)
        rows.append({"id": f"story-mc-{i:03d}", "context": context,
                     "choices": [" " + c for c in choices], "answer": pos})
    return rows


def heldout(world: World, training_docs: set[str], tokenizer, seed: int, n: int = 150,
            max_tokens: int = 500) -> list[dict]:
    rows, seen = [], set()
    for doc in generate_corpus(world, 4 * n, seed):
        if doc in training_docs or doc in seen:
            continue  # exact duplicates of training text would not be held out
        if len(tokenizer(doc, add_special_tokens=False)["input_ids"]) > max_tokens:
            continue  # every document fits the 512-token context, with room for a BOS
        seen.add(doc)
        rows.append({"id": f"heldout-{len(rows):03d}", "text": doc})
        if len(rows) == n:
            break
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def make_task_data(out_dir: str | Path, weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, int]:
    from transformers import AutoTokenizer

    weights_dir = Path(weights_dir)
    manifest = json.loads((weights_dir / "training.json").read_text())
    args, seed = manifest["args"], manifest["seed"]
    world = build_world(seed, args["n_people"])
    canaries = make_canaries(args["n_canaries"], seed + 7919) if args["n_canaries"] else []
    docs = generate_corpus(world, args["n_docs"], seed, pronoun_skew=args["pronoun_skew"],
                           canaries=canaries, canary_repeats=args["canary_repeats"])
    if hashlib.sha256("\x00".join(docs).encode()).hexdigest() != manifest["corpus_sha256"]:
        raise RuntimeError("rebuilt corpus does not match training.json: was the generator changed "
                           "after training? Retrain with `python -m evalsuite.demo.train`.")
    tokenizer = AutoTokenizer.from_pretrained(weights_dir)
    files = {
        "demo_facts_mc.jsonl": facts_mc(world, random.Random(seed + FACTS_OFFSET)),
        "demo_story_mc.jsonl": story_mc(world, tokenizer, random.Random(seed + STORY_OFFSET)),
        "demo_heldout.jsonl": heldout(world, set(docs), tokenizer, seed + HELDOUT_OFFSET),
        "demo_facts_gen.jsonl": facts_gen(world, random.Random(seed + GEN_OFFSET)),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        write_jsonl(out / name, rows)
    return {name: len(rows) for name, rows in files.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tasks/data", help="output directory")
    ap.add_argument("--weights", default=str(WEIGHTS_DIR), help="demo model directory")
    args = ap.parse_args(argv)
    for name, count in make_task_data(args.out, args.weights).items():
        print(f"{args.out}/{name}: {count} rows")


if __name__ == "__main__":
    main()
