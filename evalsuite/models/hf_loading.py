"""Loading Hugging Face models offline, shared by every transformers-based adapter.

One place decides where a model lives (a folder or a cached hub snapshot, never
the network), which device and dtype it runs in (CUDA + bfloat16 when present,
CPU + float32 otherwise), how a load failure is reported (one line naming the
fix), how its fingerprint is computed, and how long its inputs may be.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from evalsuite.errors import UserError
from evalsuite.fingerprint import hash_directory, hub_revision

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}


def resolve_local(spec: str) -> Path | None:
    """A local folder for `spec`: the path itself, or a cached hub snapshot (offline)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if "/" in spec and not spec.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec, local_files_only=True))
        except Exception:
            return None
    return None


def require_local(spec: str, kind: str) -> Path:
    folder = resolve_local(spec)
    if folder is None:
        raise UserError(f"{kind} '{spec}' is not a local folder or a cached Hugging Face model (no network is "
                        "used); pass a path, download it first, or use a registered model (evalsuite list models)")
    return folder


def device_and_dtype(device: str | None, dtype: str | None):
    """(torch.device, dtype name): CUDA + bfloat16 when present, CPU + float32 otherwise."""
    import torch

    resolved = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = dtype or ("bfloat16" if resolved.type == "cuda" else "float32")
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype '{dtype}'; use one of {', '.join(sorted(DTYPES))}")
    return resolved, DTYPES[dtype]


@contextlib.contextmanager
def loading_bars(show: bool):
    """transformers' loading bars on or off for one load, restored afterwards (evalsuite.progress decides the rest)."""
    from transformers.utils import logging as hf_logging

    from evalsuite import progress

    progress.attach("transformers")
    if show and progress.enabled():
        yield
        return
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def load_pretrained(auto_class, folder: Path, spec: str, kind: str, *, dtype: str, device,
                    trust_remote_code: bool):
    """(tokenizer, model in eval mode on `device`), or a one-line UserError saying what the folder lacks."""
    import torch
    from transformers import AutoTokenizer

    if not isinstance(trust_remote_code, bool):  # a string such as "false" must never switch it on
        raise UserError(f"trust_remote_code must be True or False, got {trust_remote_code!r}; "
                        "pass a bool (--trust-remote-code on the command line)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        model = auto_class.from_pretrained(folder, dtype=getattr(torch, dtype),
                                           trust_remote_code=trust_remote_code).to(device).eval()
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load model '{spec}': {first}; check the folder holds a {kind} "
                        "(config.json, weights, tokenizer)") from None
    return tokenizer, model


def folder_fingerprint(adapter: str, name: str, folder: Path, dtype: str, **extra) -> dict:
    revision = hub_revision(folder)
    ident = {"revision": revision} if revision else {"weights_sha256": hash_directory(folder)}
    return {"adapter": adapter, "model": name, **ident, "dtype": dtype, **extra}


def max_length_of(config, tokenizer) -> int:
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and value < 10**7 else 2048


class HFAdapter:
    """What every transformers-backed adapter shares: offline loading, `module`, a cached fingerprint.

    Subclasses name their transformers auto class (by attribute name, so nothing heavy is imported
    until a model is loaded), their adapter id and what the folder must hold, and may add
    fingerprint fields in `fingerprint_extra`.
    """

    AUTO_CLASS = "AutoModel"
    ADAPTER = "hf"
    KIND = "model"

    def __init__(self, spec: str, *, device: str | None, dtype: str | None, trust_remote_code: bool,
                 max_length: int | None, progress: bool, name: str | None):
        import transformers

        self.folder = require_local(spec, "model")
        self.name = name or spec
        self.device, self.dtype = device_and_dtype(device, dtype)
        with loading_bars(progress):
            self.tokenizer, self.model = load_pretrained(getattr(transformers, self.AUTO_CLASS), self.folder, spec,
                                                         self.KIND, dtype=self.dtype, device=self.device,
                                                         trust_remote_code=trust_remote_code)
        self.max_length = max_length or max_length_of(self.model.config, self.tokenizer)
        self._fingerprint = None

    @property
    def module(self):
        return self.model

    def fingerprint_extra(self) -> dict:
        return {"max_length": self.max_length}

    def fingerprint(self) -> dict:
        if self._fingerprint is None:
            self._fingerprint = folder_fingerprint(self.ADAPTER, self.name, self.folder, self.dtype,
                                                   **self.fingerprint_extra())
        return self._fingerprint
