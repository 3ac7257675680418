"""Classifier and encoder adapters against slow one-input-at-a-time references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evalsuite.errors import UserError
from evalsuite.models.classifiers import HFSequenceClassifier, PredictionsFile, SklearnClassifier, TorchClassifier
from evalsuite.models.encoder import HFEncoder
from evalsuite.models.factory import load_model

TEXTS = ["the cat sat", "alice lives in paris and bob works as a baker", "river", "carol plays the violin every evening"]


def _word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in TEXTS for w in t.split()})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]")


def _bert_config(vocab_size, **kw):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32, **kw)


@pytest.fixture(scope="module")
def bert_folders(tmp_path_factory):
    from transformers import BertForSequenceClassification, BertModel

    tokenizer = _word_tokenizer()
    torch.manual_seed(0)
    cls_dir, enc_dir = tmp_path_factory.mktemp("cls"), tmp_path_factory.mktemp("enc")
    config = _bert_config(len(tokenizer), num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"},
                          label2id={"neg": 0, "neu": 1, "pos": 2})
    BertForSequenceClassification(config).save_pretrained(cls_dir)
    BertModel(_bert_config(len(tokenizer))).save_pretrained(enc_dir)
    for folder in (cls_dir, enc_dir):
        tokenizer.save_pretrained(folder)
    return cls_dir, enc_dir


def test_hf_classifier_batched_matches_one_at_a_time(bert_folders):
    clf = HFSequenceClassifier(str(bert_folders[0]), batch_size=3, progress=False)
    assert clf.labels == ["neg", "neu", "pos"]
    got = clf.classify(TEXTS)
    for text, row in zip(TEXTS, got):
        with torch.no_grad():
            logits = clf.module(**clf.tokenizer(text, return_tensors="pt")).logits[0]
        np.testing.assert_allclose(row, torch.softmax(logits, -1).numpy(), atol=1e-5)
    assert clf.fingerprint()["weights_sha256"]


def test_hf_encoder_mean_pools_real_tokens_only(bert_folders):
    enc = HFEncoder(str(bert_folders[1]), batch_size=4, progress=False)
    got = enc.embed(TEXTS)
    for text, row in zip(TEXTS, got):
        with torch.no_grad():
            hidden = enc.module(**enc.tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        np.testing.assert_allclose(row, hidden.mean(0).numpy(), atol=1e-5)
    unit = HFEncoder(str(bert_folders[1]), normalize=True, progress=False).embed(TEXTS[:2])
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)


def test_sklearn_file_and_dataframe_columns(tmp_path):
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=50), "x2": rng.normal(size=50)})
    y = (frame.x1 > 0).astype(int)
    est = LogisticRegression().fit(frame, y)
    sio.dump(est, tmp_path / "m.skops")
    clf = load_model(f"sklearn:{tmp_path / 'm.skops'}")
    assert isinstance(clf, SklearnClassifier) and clf.labels == ["0", "1"]
    extra = frame.assign(group=1)[["group", "x2", "x1"]]  # extra and reordered columns are handled
    np.testing.assert_allclose(clf.classify(extra), est.predict_proba(frame))
    with pytest.raises(UserError, match="not a fitted classifier"):
        SklearnClassifier(LogisticRegression())


def test_torch_module_sigmoid_and_softmax(tmp_path):
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 1)
    torch.save(lin, tmp_path / "m.pt")
    x = np.random.default_rng(1).normal(size=(5, 3))
    clf = TorchClassifier(tmp_path / "m.pt", device="cpu", allow_pickle=True)
    p = torch.sigmoid(lin(torch.tensor(x, dtype=torch.float32))).detach().numpy().ravel()
    np.testing.assert_allclose(clf.classify(x)[:, 1], p, atol=1e-6)
    assert clf.labels == ["0", "1"]
    three = torch.nn.Linear(3, 3)
    scripted = torch.jit.script(three)
    torch.jit.save(scripted, str(tmp_path / "s.pt"))
    probs = TorchClassifier(tmp_path / "s.pt", labels="a|b|c", device="cpu").classify(x)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs, torch.softmax(three(torch.tensor(x, dtype=torch.float32)), -1).detach(),
                               atol=1e-6)


def test_predictions_file_alignment(tmp_path):
    import pandas as pd

    (tmp_path / "p.csv").write_text("id,prediction,score\n7,1,0.9\n3,0,0.2\n")
    data = pd.DataFrame({"id": [3, 7, 3]})
    preds = PredictionsFile(tmp_path / "p.csv", id_column="id")
    np.testing.assert_array_equal(preds.classify(data), [[1, 0], [0, 1], [1, 0]])
    scored = PredictionsFile(tmp_path / "p.csv", score_column="score")
    np.testing.assert_allclose(scored.classify(data.iloc[:2])[:, 1], [0.9, 0.2])
    with pytest.raises(UserError, match="2 predictions for 3 data rows"):
        scored.classify(data)
    with pytest.raises(UserError, match="no column 'pred'"):
        PredictionsFile(tmp_path / "p.csv", column="pred")


BUILT_BY = {"hf": "evalsuite.models.hf:HFCausalLM", "demo": "evalsuite.models.hf:HFCausalLM",
            "hf-classifier": "evalsuite.models.classifiers:HFSequenceClassifier",
            "hf-encoder": "evalsuite.models.encoder:HFEncoder",
            "sklearn": "evalsuite.models.classifiers:SklearnClassifier",
            "torch": "evalsuite.models.classifiers:TorchClassifier",
            "predictions": "evalsuite.models.classifiers:PredictionsFile"}


@pytest.mark.parametrize("adapter", sorted(BUILT_BY))
def test_each_adapter_takes_exactly_the_options_its_factory_declares(adapter):
    """No adapter swallows an unknown option (**kwargs), and each accepts every option the factory passes."""
    import importlib
    import inspect

    from evalsuite.models import builtin
    from evalsuite.options import declared_options

    module, _, name = BUILT_BY[adapter].partition(":")
    cls = getattr(importlib.import_module(module), name)
    params = inspect.signature(cls.__init__).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), f"{name} swallows unknown options"
    factory = {"hf-classifier": builtin.hf_classifier, "hf-encoder": builtin.hf_encoder,
               "sklearn": builtin.sklearn_classifier, "torch": builtin.torch_classifier,
               "predictions": builtin.predictions_file}.get(adapter, getattr(builtin, adapter, None))
    declared = set(declared_options(factory, skip=("spec",)))
    keyword_only = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    assert declared <= keyword_only, (adapter, declared - keyword_only)
    fixed = {"demo": {"trust_remote_code"}}.get(adapter, set())  # the built-in demo model runs no remote code
    assert keyword_only - declared == fixed, (adapter, keyword_only - declared)


def test_an_option_the_adapter_does_not_declare_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    sio.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), tmp_path / "m.skops")
    with pytest.raises(UserError, match="has no option 'device'"):
        load_model(f"sklearn:{tmp_path / 'm.skops'}", device="cpu")
    with pytest.raises(TypeError):
        SklearnClassifier(tmp_path / "m.skops", batch_size=3)  # from Python too: nothing is silently ignored
