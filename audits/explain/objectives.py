"""What is explained: a scalar output of a model for one input, evaluable on perturbed copies.

Text: a classifier's probability for one label, or a language model's summed
log-probability of a continuation given a context. One input is a
`TextExample` (token ids, the positions that can carry credit, display
tokens); every perturbation replaces attributable positions with one baseline
token, so perturbed copies keep the input's length and batch without padding.
Tabular: an estimator's probability (or margin, or prediction) for one class,
with removed features set to their background mean.

Both expose `score_keep(keep)`: outputs for a boolean matrix saying which
attributable positions keep their value; faithfulness metrics use only that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalsuite.audits.explain.batching import batch_size_for, with_oom_retry


@dataclass
class TextExample:
    """One text input: model input ids, which positions may carry credit, and what is explained."""

    ids: list[int]
    positions: list[int]  # attributable positions
    tokens: list[str]  # display text of every id
    target: str  # label name or continuation text
    text_span: tuple[int, int]  # ids[start:end] are the tokenizer's ids of the input text (SHAP masks those)
    label_index: int | None = None  # classifier target
    n_continuation: int = 0  # LM target: the last n ids are the continuation
    meta: dict = field(default_factory=dict)


def baseline_token_id(tokenizer) -> int:
    """The token that stands for 'no information': mask, else pad, else unk, else end-of-text."""
    for name in ("mask_token_id", "pad_token_id", "unk_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def display_tokens(tokenizer, ids) -> list[str]:
    return [tokenizer.decode([int(i)]) for i in ids]


class TextObjective:
    """A text model's explained output, f(ids) -> one float per row, for classifiers or LMs."""

    def __init__(self, module, tokenizer, *, kind: str, device=None, token_budget: int = 4096,
                 baseline_id: int | None = None, labels=None):
        import torch

        if kind not in ("classifier", "lm"):
            raise ValueError(f"kind must be 'classifier' or 'lm', got {kind!r}")
        self.module, self.tokenizer, self.kind = module.eval(), tokenizer, kind
        self.device = torch.device(device) if device is not None else next(module.parameters()).device
        self.token_budget = token_budget
        self.baseline_id = baseline_token_id(tokenizer) if baseline_id is None else int(baseline_id)
        self.labels = list(labels) if labels is not None else None

    @property
    def embedding_layer(self):
        return self.module.get_input_embeddings()

    # -- building examples ------------------------------------------------------
    def classifier_example(self, text: str, label: int | str | None = None) -> TextExample:
        """The input text with the tokenizer's special tokens; label defaults to the predicted class."""
        ids = list(self.tokenizer(text)["input_ids"])
        special = set(self.tokenizer.all_special_ids)
        positions = [p for p, i in enumerate(ids) if i not in special]
        example = TextExample(ids, positions, display_tokens(self.tokenizer, ids), "", (0, len(ids)))
        if label is None:
            import torch

            with torch.no_grad():
                logits = self._logits(torch.tensor([ids], device=self.device))
            label = int(logits.argmax(-1)[0])
        elif isinstance(label, str):
            names = self.labels or []
            if label not in names:
                from evalsuite.errors import UserError

                raise UserError(f"label '{label}' is not one of the model's labels {names}; pass one of them")
            label = names.index(label)
        example.label_index = int(label)
        example.target = self.labels[label] if self.labels and label < len(self.labels) else str(label)
        return example

    def lm_example(self, context: str, continuation: str) -> TextExample:
        """BOS + context + continuation; only the context carries credit (BOS and continuation are fixed)."""
        from evalsuite.errors import UserError

        tok = self.tokenizer
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        context_ids = list(tok(context, add_special_tokens=False)["input_ids"])
        full = list(tok(context + continuation, add_special_tokens=False)["input_ids"])
        cont_ids = full[len(context_ids):] if full[:len(context_ids)] == context_ids else \
            list(tok(continuation, add_special_tokens=False)["input_ids"])
        if not context_ids or not cont_ids:
            raise UserError("explaining a language model needs a non-empty context and continuation")
        prefix = [bos] if bos is not None else []
        ids = prefix + context_ids + cont_ids
        start = len(prefix)
        positions = list(range(start, start + len(context_ids)))
        return TextExample(ids, positions, display_tokens(tok, ids), continuation,
                           (start, start + len(context_ids)), n_continuation=len(cont_ids))

    # -- the explained output -----------------------------------------------------
    def _logits(self, ids=None, embeds=None):
        kwargs = {"input_ids": ids} if embeds is None else {"inputs_embeds": embeds}
        return self.module(**kwargs).logits

    def _reduce(self, logits, example: TextExample):
        import torch

        if self.kind == "classifier":
            return torch.softmax(logits.float(), dim=-1)[:, example.label_index]
        n, length = example.n_continuation, len(example.ids)
        targets = torch.tensor(example.ids[length - n:], device=logits.device)
        logprobs = torch.log_softmax(logits[:, length - n - 1:length - 1].float(), dim=-1)
        return logprobs.gather(-1, targets.expand(logits.shape[0], n).unsqueeze(-1)).squeeze(-1).sum(-1)

    def forward_ids(self, ids, example: TextExample):
        """f for a batch of full id rows (differentiable through the embedding layer)."""
        return self._reduce(self._logits(ids=ids.to(self.device)), example)

    def forward_embeds(self, embeds, example: TextExample):
        return self._reduce(self._logits(embeds=embeds), example)

    def embed(self, ids):
        import torch

        return self.embedding_layer(torch.as_tensor(ids, device=self.device).reshape(1, -1))

    def batch_size(self, example: TextExample) -> int:
        return batch_size_for(len(example.ids), self.token_budget)

    def evaluate_ids(self, example: TextExample, rows: np.ndarray) -> np.ndarray:
        """f for many full id rows of one example, batched by the token budget, OOM retried."""
        import torch

        rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(example.ids))

        def run(size: int) -> np.ndarray:
            out = []
            with torch.no_grad():
                for i in range(0, len(rows), size):
                    out.append(self.forward_ids(torch.from_numpy(rows[i:i + size]), example).float().cpu().numpy())
            return np.concatenate(out) if out else np.zeros(0)

        return with_oom_retry(run, self.batch_size(example), what="explained-output evaluation")

    def baseline_ids(self, example: TextExample) -> list[int]:
        ids = list(example.ids)
        for p in example.positions:
            ids[p] = self.baseline_id
        return ids

    def scorer(self, example: TextExample):
        """score_keep(keep[m, n_positions]) -> f of each row (removed positions set to the baseline token)."""
        base = np.asarray(example.ids, dtype=np.int64)
        positions = np.asarray(example.positions, dtype=np.int64)

        def score_keep(keep: np.ndarray) -> np.ndarray:
            keep = np.asarray(keep, dtype=bool).reshape(-1, len(positions))
            rows = np.repeat(base[None, :], len(keep), axis=0)
            sub = rows[:, positions]
            sub[~keep] = self.baseline_id
            rows[:, positions] = sub
            return self.evaluate_ids(example, rows)

        return score_keep


class TabularObjective:
    """An estimator's explained output for one class: predict_proba, decision_function or predict."""

    def __init__(self, predict, background: np.ndarray, feature_names: list[str], target: str = "output"):
        self.predict = predict  # X[m, d] -> outputs[m]
        self.background = np.asarray(background, dtype=float)
        self.baseline = self.background.mean(axis=0)  # removed features take their background mean
        self.feature_names = list(feature_names)
        self.target = target

    def scorer(self, x: np.ndarray):
        x = np.asarray(x, dtype=float)

        def score_keep(keep: np.ndarray) -> np.ndarray:
            keep = np.asarray(keep, dtype=bool).reshape(-1, len(x))
            return np.asarray(self.predict(np.where(keep, x[None, :], self.baseline[None, :])), dtype=float)

        return score_keep
