"""Fine-tuning an HF sequence classifier: labels train it, DP runs are accounted, checkpoints reload as classifiers."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from evalsuite.cli import main

WORDS = "the a cat dog house tree river road walks runs sees near under over town field".split()


def _texts(n: int, seed: int) -> list[dict]:
    """Filler sentences; label 1 exactly when the word 'good' appears (the only signal)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(6)]
        if i % 2:
            words.insert(rng.randrange(7), "good")
        rows.append({"text": " ".join(words), "label": i % 2})
    return rows


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    folder = tmp_path_factory.mktemp("bert_cls")
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    data = folder.parent / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _texts(64, seed=1)))
    return folder, data


def _accuracy(checkpoint, rows) -> float:
    from evalsuite.models.factory import load_model

    model = load_model(f"hf-classifier:{checkpoint}", progress=False)
    probs = model.classify([r["text"] for r in rows])
    return float(np.mean(probs.argmax(1) == [r["label"] for r in rows]))


def test_non_private_fine_tuning_learns_the_labels(classifier, tmp_path, capsys):
    folder, data = classifier
    before = _accuracy(folder, _texts(64, seed=2))
    code = main(["finetune", "--model", f"hf-classifier:{folder}", "--data", str(data), "--label-field", "label",
                 "--epochs", "15", "--batch-size", "16", "--lr", "0.01", "--seq-len", "12", "--quiet",
                 "--out", str(tmp_path / "ckpt"), "--output-dir", str(tmp_path / "results")])
    assert code == 0, capsys.readouterr().err
    after = _accuracy(tmp_path / "ckpt", _texts(64, seed=2))  # fresh sentences, same rule
    assert after >= 0.9 and after > before


def test_dp_classifier_record_and_reload(classifier, tmp_path, capsys):
    from evalsuite.privacy.accounting import epsilon_for

    folder, data = classifier
    code = main(["finetune", "--model", f"hf-classifier:{folder}", "--data", str(data), "--label-field", "label",
                 "--dp", "--noise-multiplier", "1.0", "--delta", "1e-3", "--accountant", "rdp", "--epochs", "2",
                 "--batch-size", "16", "--seq-len", "12", "--quiet", "--out", str(tmp_path / "ckpt"),
                 "--output-dir", str(tmp_path / "results")])
    assert code == 0, capsys.readouterr().err
    privacy = json.loads((tmp_path / "ckpt" / "privacy.json").read_text())
    assert privacy["epsilon"] == pytest.approx(epsilon_for(1.0, 16 / 64, privacy["steps"], 1e-3, "rdp"))
    [record] = list((tmp_path / "results").glob("runs/*/evalsuite_dp_finetune/record.json"))
    assert json.loads(record.read_text())["metrics"]["epsilon"]["value"] == pytest.approx(privacy["epsilon"])
    from safetensors.torch import load_file

    before = load_file(str(folder / "model.safetensors"))
    after = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    assert not (before["classifier.weight"] == after["classifier.weight"]).all()  # DP steps moved the head
    from evalsuite.models.classifiers import HFSequenceClassifier
    from evalsuite.models.factory import load_model

    reloaded = load_model(f"hf-classifier:{tmp_path / 'ckpt'}", progress=False)
    assert isinstance(reloaded, HFSequenceClassifier) and reloaded.classify(["good cat"]).shape == (1, 2)


def test_classifier_needs_labels_and_no_lm_audit(classifier, tmp_path, capsys):
    folder, data = classifier
    base = ["finetune", "--model", f"hf-classifier:{folder}", "--data", str(data), "--quiet",
            "--out", str(tmp_path / "ckpt"), "--output-dir", str(tmp_path / "results")]
    assert main(base) == 2
    assert "--label-field" in capsys.readouterr().err
    assert main([*base, "--label-field", "label", "--audit-holdout", "0.5", "--audit"]) == 2
    assert "drop --audit" in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "results").exists()
