"""The `hf-encoder` adapter: sentence embeddings from a transformers encoder.

Embeddings are the mean of the last hidden states over real (unpadded) tokens,
as sentence-transformers' mean pooling computes them, optionally L2-normalised.
Bias probes such as WEAT/SEAT only need `.embed(texts)`; jobs that need
gradients reach `.module` and `.tokenizer`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalsuite.errors import UserError
from evalsuite.models.hf_loading import HFAdapter


class HFEncoder(HFAdapter):
    """A mean-pooled transformers encoder behind the Encoder protocol."""

    capabilities = frozenset({"embed"})
    AUTO_CLASS, ADAPTER, KIND = "AutoModel", "hf-encoder", "transformer encoder"

    def __init__(self, spec: str, *, device: str | None = None, dtype: str | None = None,
                 trust_remote_code: bool = False, max_length: int | None = None, batch_size: int = 64,
                 normalize: bool = False, progress: bool = True, name: str | None = None):
        super().__init__(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         max_length=max_length, progress=progress, name=name)
        self.batch_size = batch_size
        if not isinstance(normalize, bool):  # the factory parses text; a string here would always be truthy
            raise UserError(f"normalize must be True or False, got {normalize!r}")
        self.normalize = normalize

    def fingerprint_extra(self) -> dict:
        return {"pooling": "mean", "normalize": self.normalize}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = [str(t) for t in texts]
        out = None
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[start:start + self.batch_size], return_tensors="pt", padding=True,
                                       truncation=True, max_length=self.max_length).to(self.device)
                hidden = self.model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                if out is None:
                    out = np.zeros((len(texts), pooled.shape[-1]))
                out[start:start + len(pooled)] = pooled.cpu().numpy()
        return out if out is not None else np.zeros((0, 0))
