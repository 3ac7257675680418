"""Builders for the explanation tests (a uniquely named module: several test folders have a conftest.py).

A tiny text classifier whose label is decided by one planted token, trained on the spot (a few seconds)."""

from __future__ import annotations

import random
from types import SimpleNamespace

FILLER = ("the a small old red blue cat dog house tree river road quiet loud walks runs sees finds near under "
          "over with every some green town field").split()
PLANTED = "zebra"
STEPS, LR = 40, 1e-3  # mild training: a saturated classifier is a step along IG's path


def planted_sentences(n: int, seed: int) -> list[tuple[str, int]]:
    """Random filler sentences; half get the planted token at a random place and label 1."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(5, 9))]
        label = i % 2
        if label:
            words.insert(rng.randrange(len(words) + 1), PLANTED)
        rows.append((" ".join(words), label))
    return rows


def build_planted_classifier(seed: int = 0):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + list(dict.fromkeys(FILLER)) + [PLANTED])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    # DistilBERT's head has no tanh pooler: a BERT pooler saturates into a step along IG's path.
    config = DistilBertConfig(vocab_size=len(vocab), dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                              max_position_embeddings=32, num_labels=2, dropout=0.0, attention_dropout=0.0,
                              seq_classif_dropout=0.0, pad_token_id=0)
    module = DistilBertForSequenceClassification(config)
    data = planted_sentences(512, seed)
    opt = torch.optim.Adam(module.parameters(), lr=LR)
    module.train()
    for step in range(STEPS):
        batch = [data[(step * 32 + j) % len(data)] for j in range(32)]
        enc = tokenizer([t for t, _ in batch], padding=True, return_tensors="pt")
        loss = module(**enc, labels=torch.tensor([y for _, y in batch])).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    module.eval()
    labels = ["other", "planted"]

    def classify(texts):
        with torch.no_grad():
            enc = tokenizer(list(texts), padding=True, return_tensors="pt")
            return torch.softmax(module(**enc).logits, -1).numpy()

    return SimpleNamespace(name="planted-classifier", module=module, tokenizer=tokenizer,
                           device=torch.device("cpu"), labels=labels, classify=classify,
                           fingerprint=lambda: {"adapter": "test", "model": "planted-classifier", "seed": seed})


