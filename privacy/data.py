"""Fine-tuning data: texts from a file or a registered task, a held-out audit split, planted canaries.

The privacy unit is one example (one text, or one text+label for classifiers):
each is tokenized into its own padded row, never packed with others, so
per-example clipping bounds what any one record contributes.

The checkpoint records where its data came from and which indices were trained
on (members) or held out (non-members), not the texts: a privacy audit reloads
them from the same source, and the weights folder carries no copy of the data.
A data file's path is stored relative to the checkpoint folder, so the audit
finds it from any working directory, and after both are moved together.

Audit canaries (`audit_canaries`) are the one-run audit's examples (Steinke, Nasr and
Jagielski 2023): random sequences of the data's own words, each put in the training data
once (never repeated: a repeated canary is a group of examples) by its own fair coin,
seeded. The checkpoint records every audit canary and its coin, so the audit can score
the ones left out too.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from evalsuite.errors import UserError


@dataclass
class FinetuneData:
    """Examples to train on, those held out for the audit, and the canaries planted in training."""

    source: dict  # {"kind": "file"|"task", "path"|"name": ..., "text_field": ..., "label_field": ...}
    texts: list[str]
    labels: list[int] | None = None
    member_indices: list[int] = field(default_factory=list)
    nonmember_indices: list[int] = field(default_factory=list)
    canaries: list[str] = field(default_factory=list)
    canary_repeats: int = 0
    audit_canaries: list[str] = field(default_factory=list)  # the one-run audit's canaries, in or out
    audit_included: list[bool] = field(default_factory=list)  # each one's fair coin: in the training data?

    @property
    def train_texts(self) -> list[str]:
        # An audit canary goes in once: repeated, it would be a group of examples, and its bound would be a
        # group-privacy bound, not comparable with the claimed epsilon.
        repeated = [c for c in self.canaries for _ in range(self.canary_repeats)]
        return ([self.texts[i] for i in self.member_indices] + repeated
                + [c for c, inside in zip(self.audit_canaries, self.audit_included) if inside])

    @property
    def train_labels(self) -> list[int] | None:
        if self.labels is None:
            return None
        return [self.labels[i] for i in self.member_indices]

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps([self.texts, self.labels]).encode()).hexdigest()

    def manifest(self, checkpoint: str | Path | None = None) -> dict:
        """What training.json records; with `checkpoint`, a file path is stored relative to that folder."""
        source = dict(self.source)
        if checkpoint is not None and source.get("kind") == "file":
            target = Path(source["path"]).resolve()
            try:
                source["path"] = os.path.relpath(target, Path(checkpoint).resolve())
                source["relative_to"] = "checkpoint"
            except ValueError:  # another drive (Windows): keep the absolute path
                source["path"] = str(target)
        return {"source": source, "data_sha256": self.sha256(), "n_examples": len(self.texts),
                "member_indices": self.member_indices, "nonmember_indices": self.nonmember_indices,
                "canaries": self.canaries, "canary_repeats": self.canary_repeats,
                "audit_canaries": self.audit_canaries, "audit_included": self.audit_included}


def _rows_from_file(path: str) -> list[dict]:
    from evalsuite.task_types import load_records

    rows = load_records(path)
    if not rows:
        raise UserError(f"data file '{path}' has no rows; give a file with a text column")
    return rows


def _rows_from_task(name: str) -> list[dict]:
    from evalsuite.jobs import Job
    from evalsuite.registry import REGISTRY

    try:
        spec = REGISTRY.get("task", name).obj()
    except TypeError:  # a task with required options
        raise UserError(f"task '{name}' needs options, so its documents cannot be fine-tuned on; use a data file "
                        "(data=FILE, --data FILE)") from None
    if isinstance(spec, Job) or not hasattr(spec, "docs"):
        raise UserError(f"task '{name}' has no documents to fine-tune on; pick a benchmark task or --data FILE")
    return [dict(d) for d in spec.docs]


def load_source(source: dict) -> tuple[list[str], list[int] | None]:
    """(texts, labels or None) from a data source description."""
    rows = _rows_from_file(source["path"]) if source["kind"] == "file" else _rows_from_task(source["name"])
    text_field, label_field = source.get("text_field", "text"), source.get("label_field")
    where = source.get("path") or f"task '{source.get('name')}'"
    if text_field not in rows[0]:
        raise UserError(f"{where} has no '{text_field}' field (fields: {', '.join(map(str, rows[0]))}); "
                        "pass --text-field")
    texts = [str(r[text_field]) for r in rows]
    labels = None
    if label_field:
        if label_field not in rows[0]:
            raise UserError(f"{where} has no '{label_field}' field; pass --label-field")
        try:
            labels = [int(r[label_field]) for r in rows]
        except (TypeError, ValueError):
            raise UserError(f"{where}: the '{label_field}' field must hold whole-number class ids (0, 1, ...)") \
                from None
    return texts, labels


AUDIT_CANARY_WORDS = 12


def canary_vocabulary(texts: list[str]) -> list[str]:
    """The words audit canaries are drawn from: the data's own alphabetic words (tokens the model knows), or
    digits when the data has too few of them."""
    words = sorted({w for t in texts for w in t.split() if w.isalpha() and len(w) > 1})
    return words if len(words) >= 20 else [str(d) for d in range(10)]


def make_audit_canaries(m: int, seed: int, texts: list[str], exclude: list[str]) -> tuple[list[str], list[bool]]:
    """m distinct random word sequences (none in `exclude`) and their fair coins, from one seeded generator.

    Random sequences of the data's own words: nothing predicts one but having trained on it, so a model
    that memorizes shows it on them, and a canary left out is as unlikely as one never written.
    """
    rng = random.Random(seed)
    vocabulary = canary_vocabulary(texts)
    taken, out = set(exclude) | set(texts), []
    while len(out) < m:
        text = " ".join(rng.choice(vocabulary) for _ in range(AUDIT_CANARY_WORDS))
        if text not in taken:
            taken.add(text)
            out.append(text)
    return out, [rng.random() < 0.5 for _ in range(m)]


def prepare_data(source: dict, *, holdout_fraction: float = 0.0, n_canaries: int = 0, canary_repeats: int = 1,
                 seed: int = 0, limit: int | None = None, n_audit_canaries: int = 0) -> FinetuneData:
    """Load the data, split off non-members for the audit (seeded), and plant canaries and audit canaries."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise UserError(f"holdout must be in [0, 1), got {holdout_fraction}")
    if n_canaries < 0 or canary_repeats < 1 or n_audit_canaries < 0:
        raise UserError("canaries and audit_canaries must be >= 0 and canary_repeats >= 1")
    texts, labels = load_source(source)
    if limit:
        texts, labels = texts[:limit], (labels[:limit] if labels else labels)
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_out = int(round(holdout_fraction * len(texts)))
    canaries = []
    if n_canaries:
        if labels is not None:
            raise UserError("canaries are text secrets for language models; drop canaries for a classifier")
        from evalsuite.demo.corpus import make_canaries

        canaries = make_canaries(n_canaries, seed + 7919)
    audit, coins = [], []
    if n_audit_canaries:
        if labels is not None:
            raise UserError("audit canaries are text secrets for language models; drop audit_canaries for a "
                            "classifier")
        audit, coins = make_audit_canaries(n_audit_canaries, seed + 104729, texts, canaries)
    return FinetuneData(source=source, texts=texts, labels=labels, member_indices=sorted(order[n_out:]),
                        nonmember_indices=sorted(order[:n_out]), canaries=canaries,
                        canary_repeats=canary_repeats if canaries else 0, audit_canaries=audit,
                        audit_included=coins)


def source_of(manifest: dict, checkpoint: str | Path) -> dict:
    """The data source of a checkpoint's manifest with its file path usable from here."""
    source = dict(manifest["source"])
    if source.get("kind") == "file" and source.pop("relative_to", None) == "checkpoint":
        source["path"] = str(Path(checkpoint) / source["path"])
    return source


def reload_data(manifest: dict, checkpoint: str | Path) -> FinetuneData:
    """The same split again from a checkpoint's training.json; refuses data that changed since."""
    texts, labels = load_source(source_of(manifest, checkpoint))
    n = manifest["n_examples"]
    texts, labels = texts[:n], (labels[:n] if labels else labels)
    data = FinetuneData(source_of(manifest, checkpoint), texts, labels, manifest["member_indices"],
                        manifest["nonmember_indices"], manifest["canaries"], manifest["canary_repeats"],
                        list(manifest.get("audit_canaries", [])), [bool(c) for c in manifest.get("audit_included", [])])
    if data.sha256() != manifest["data_sha256"]:
        raise UserError(f"the fine-tuning data at {manifest['source']} changed since training; audit with the "
                        "original data (or pass members_file/nonmembers_file options)")
    return data


def tokenize_examples(tokenizer, texts: list[str], seq_len: int, labels: list[int] | None = None):
    """Padded tensors, one row per example: input_ids, attention_mask, and targets.

    For a language model the targets are the next tokens (-100 on padding); each row
    starts with BOS/EOS so the first real token is predicted too.
    """
    import torch

    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else bos
    # A classifier reads its inputs as it was trained to ([CLS] ... [SEP]); an LM gets a BOS prefix below.
    encoded = tokenizer(list(texts), add_special_tokens=labels is not None)["input_ids"]
    if labels is None:
        encoded = [([bos] if bos is not None else []) + ids for ids in encoded]
    width = min(seq_len, max(len(ids) for ids in encoded))
    if labels is None and width < 2:
        raise UserError("the texts encode to fewer than 2 tokens; give longer texts")
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, row in enumerate(encoded):
        row = row[:width]
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    if labels is not None:
        return ids, mask, torch.tensor(labels, dtype=torch.long)
    targets = ids.clone()
    targets[mask == 0] = -100
    return ids, mask, targets

