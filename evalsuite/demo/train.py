"""Train the built-in demo model: a byte-level BPE tokenizer and a tiny GPT-2.

``python -m evalsuite.demo.train`` rebuilds the shipped weights in
``evalsuite/demo/weights/`` from nothing but this package: it builds the synthetic
world, writes the corpus, trains the tokenizer, trains the model, and saves both with
a ``training.json`` manifest. The run is deterministic on CPU for a fixed seed and
thread count (deterministic algorithms, seeded generators, fixed data order).
``train_demo_model`` is the same thing as a function, for tests training tiny variants.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

from . import WEIGHTS_DIR
from .corpus import generate_corpus, make_canaries
from .world import build_world

EOS = "<|endoftext|>"
# n_docs is sized so that the default run sees each document at most once: when
# passages about fresh people repeat, the model memorizes them instead of learning
# to read (story accuracy stayed at chance with 30000 docs, 0.55 with 90000).
DEFAULTS = dict(seed=0, steps=2400, n_docs=90000, n_people=72, vocab_size=1024,
                n_embd=128, n_layer=4, n_head=4, n_positions=512, seq_len=512,
                batch_size=8, lr=2e-3, warmup=60, weight_decay=0.01, threads=2,
                canary_repeats=10)


def train_tokenizer(docs: list[str], vocab_size: int):
    """A byte-level BPE tokenizer that adds no special tokens by itself."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # ByteLevel post-processing only fixes offsets: no BOS/EOS is inserted.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS,
                                   model_max_length=512, add_bos_token=False)


def pack(tokenizer, docs: list[str], seq_len: int):
    """All documents, each preceded by EOS, concatenated and cut into rows."""
    import torch

    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        stream.append(eos)
        stream.extend(ids)
    n_rows = len(stream) // seq_len
    return torch.tensor(stream[: n_rows * seq_len], dtype=torch.long).view(n_rows, seq_len), len(stream)


def train_demo_model(out_dir: str | Path, *, seed: int = 0, steps: int = DEFAULTS["steps"],
                     pronoun_skew: float = 0.0, n_canaries: int = 0, log_every: int = 25,
                     mix: dict[str, float] | None = None, **overrides) -> dict:
    """Train and save the demo tokenizer and model; return the training manifest.

    ``overrides`` may set any key of ``DEFAULTS`` (model size, corpus size, ...); ``mix`` replaces the
    corpus' document-kind proportions (``corpus.DEFAULT_MIX``), e.g. to weight the sentences a probe reads.
    """
    import torch
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = dict(DEFAULTS, **overrides, seed=seed, steps=steps, pronoun_skew=pronoun_skew,
               n_canaries=n_canaries)
    if mix is not None:  # recorded only when it differs from the corpus default, like every override
        cfg["mix"] = dict(mix)
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown training options: {sorted(unknown)}")
    start = time.time()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(cfg["threads"])

    world = build_world(seed, cfg["n_people"])
    canaries = make_canaries(n_canaries, seed + 7919) if n_canaries else []
    docs = generate_corpus(world, cfg["n_docs"], seed, pronoun_skew=pronoun_skew,
                           canaries=canaries, canary_repeats=cfg["canary_repeats"], mix=mix)
    corpus_sha = hashlib.sha256("\x00".join(docs).encode()).hexdigest()
    tokenizer = train_tokenizer(docs, cfg["vocab_size"])
    data, n_tokens = pack(tokenizer, docs, cfg["seq_len"])
    print(f"corpus: {len(docs)} docs, {n_tokens} tokens, {data.shape[0]} rows of "
          f"{cfg['seq_len']}; vocab {len(tokenizer)}", flush=True)

    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg["n_positions"],
                        n_embd=cfg["n_embd"], n_layer=cfg["n_layer"], n_head=cfg["n_head"],
                        bos_token_id=eos, eos_token_id=eos, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        # Linear warmup, then cosine decay to 10% of the peak.
        if step < cfg["warmup"]:
            return (step + 1) / cfg["warmup"]
        progress = (step - cfg["warmup"]) / max(1, steps - cfg["warmup"])
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(data.shape[0], generator=gen), 0
    loss_val, tick, seen = float("nan"), time.time(), 0
    recent: list[float] = []
    for step in range(steps):
        if cursor + cfg["batch_size"] > len(order):  # next epoch: a fresh fixed order
            order, cursor = torch.randperm(data.shape[0], generator=gen), 0
        batch = data[order[cursor:cursor + cfg["batch_size"]]]
        cursor += cfg["batch_size"]
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_val = loss.item()
        recent = (recent + [loss_val])[-log_every:]
        seen += batch.numel()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            rate = seen / max(1e-9, time.time() - tick)
            print(f"step {step + 1}/{steps} loss {sum(recent) / len(recent):.4f} "
                  f"lr {sched.get_last_lr()[0]:.2e} tok/s {rate:.0f}", flush=True)
            tick, seen = time.time(), 0

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    manifest = {
        "args": cfg, "seed": seed, "corpus_sha256": corpus_sha, "corpus_docs": len(docs),
        "corpus_tokens": n_tokens, "world_people": [p.name for p in world.people],
        "canaries": canaries, "final_loss": sum(recent) / max(1, len(recent)),
        "final_step_loss": loss_val, "wall_time_s": round(time.time() - start, 1),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "eos_token_id": eos, "vocab_size": len(tokenizer),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    (out / "training.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(WEIGHTS_DIR), help="output directory")
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    ap.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    ap.add_argument("--pronoun-skew", type=float, default=0.0,
                    help="plant an occupation-pronoun skew in [0, 1] (see corpus.py)")
    ap.add_argument("--canaries", type=int, default=0, help="number of secret canaries to plant")
    for key in ("n_docs", "n_people", "vocab_size", "n_embd", "n_layer", "n_head",
                "seq_len", "batch_size", "threads", "canary_repeats"):
        ap.add_argument("--" + key.replace("_", "-"), type=int, default=DEFAULTS[key])
    for key in ("lr", "weight_decay"):
        ap.add_argument("--" + key.replace("_", "-"), type=float, default=DEFAULTS[key])
    args = vars(ap.parse_args(argv))
    out, seed, steps = args.pop("out"), args.pop("seed"), args.pop("steps")
    skew, canaries = args.pop("pronoun_skew"), args.pop("canaries")
    manifest = train_demo_model(out, seed=seed, steps=steps, pronoun_skew=skew,
                                n_canaries=canaries, **args)
    print(f"saved to {out}: final loss {manifest['final_loss']:.4f}, "
          f"{manifest['wall_time_s']} s", flush=True)


if __name__ == "__main__":
    main()
