"""Who produced a result: model fingerprints, content hashes and the environment.

A model fingerprint names the exact weights (a hash of the files, or the hub
revision a cached snapshot came from) plus the dtype, so a cached answer is
never served to a different model and a record says precisely what was run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.json", "*.model", "*.txt", "*.tiktoken")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(value) -> str:
    return sha256_text(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))


def hash_directory(folder: Path, patterns=WEIGHT_FILES) -> str:
    """sha256 over the names and contents of the model files in `folder`."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    for path in files:
        if path.name == "training.json":  # training notes are not the model
            continue
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def hub_revision(folder: Path) -> str | None:
    """The commit of a Hugging Face cache snapshot folder (.../snapshots/<commit>)."""
    return folder.name if folder.parent.name == "snapshots" and len(folder.name) == 40 else None


PACKAGES = ("evalsuite", "torch", "transformers", "lm_eval", "tokenizers", "numpy", "accelerate")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "machine": platform.machine()}
    if "torch" in sys.modules:
        import torch

        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
        info["torch_threads"] = torch.get_num_threads()
    return info
