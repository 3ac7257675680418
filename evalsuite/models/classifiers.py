"""Classifier adapters: anything that maps inputs to class probabilities.

Fairness audits and attributions program against one small protocol
(`evalsuite.models.base.Classifier`): `.name`, `.labels`, `.fingerprint()` and
`.classify(inputs) -> (n, k) probabilities`. Four sources implement it:

- `HFSequenceClassifier`: a transformers sequence-classification model (texts in),
  batched on CUDA when present; exposes `.module` and `.tokenizer` for gradients;
- `SklearnClassifier`: a fitted scikit-learn estimator, from Python, a skops file, or a
  joblib/pickle file with allow_pickle (feature rows in; a DataFrame keeps only the
  columns the estimator was fitted on);
- `TorchClassifier`: a torch module (from Python, TorchScript, or a whole module saved
  with torch.save, with allow_pickle) over numeric feature rows; one output unit means a
  sigmoid, several a softmax;
- `PredictionsFile`: no model at all, a column of predictions (and optional scores)
  aligned with the audited data row by row or joined on an id column.

Loading a pickle or a whole torch module runs code from the file, so neither happens
unless the user opts in with allow_pickle=true; skops files (types checked before
loading) and TorchScript need no flag.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.errors import UserError, require
from evalsuite.models.hf_loading import HFAdapter


def _one_hot(predictions: Sequence[Any], labels: Sequence[Any]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(p) for p in predictions if p not in index})
    if unknown:
        raise UserError(f"predictions {unknown[:5]} are not among the model's labels {list(labels)}; "
                        "give the label list with labels=...")
    out = np.zeros((len(predictions), len(labels)))
    out[np.arange(len(predictions)), [index[p] for p in predictions]] = 1.0
    return out


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _existing_file(spec: str | Path, kind: str) -> Path:
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"{kind} file '{spec}' does not exist; check the path")
    return path


def _is_skops(data: bytes) -> bool:
    """A skops file is a zip archive with a schema.json at its top."""
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _sklearn_own(type_name: str) -> bool:
    """True when `type_name` (module.Name, as skops reports it) is defined in scikit-learn itself.

    A name under `sklearn.` is imported and its `__module__` checked, so a function that a
    scikit-learn module merely imports (shutil.rmtree, say) is not trusted through that path."""
    import importlib

    module_name, _, attr = type_name.rpartition(".")
    if not module_name.startswith("sklearn."):
        return False
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    defined_in = getattr(obj, "__module__", "") or ""
    return defined_in == module_name and getattr(obj, "__name__", None) == attr


def _load_skops(path: Path, data: bytes):
    """Load a skops file: types skops trusts, plus scikit-learn's own; anything else is refused, by name."""
    sio = require("skops.io", "audits")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged archive or schema
        raise UserError(f"could not read skops file '{path}' ({type(exc).__name__}: {exc}); save it again with "
                        "skops.io.dump") from None
    unknown = [t for t in untrusted if not _sklearn_own(t)]
    if unknown:
        raise UserError(f"skops file '{path}' holds types that are neither skops-trusted nor scikit-learn's: "
                        f"{', '.join(unknown)}; if you trust them, load it in Python with "
                        "skops.io.load(path, trusted=[...]) and pass the estimator")
    try:
        return sio.loads(data, trusted=untrusted)
    except (ImportError, AttributeError, TypeError, ValueError, KeyError) as exc:  # e.g. another sklearn's types
        raise UserError(f"could not load skops file '{path}' ({type(exc).__name__}: {exc}); save it again with "
                        "skops.io.dump under the installed scikit-learn") from None


def _load_pickle(path: Path):
    """joblib/pickle: only reached with allow_pickle=True (this runs code from the file)."""
    joblib = require("joblib", "audits")
    try:
        return joblib.load(path)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, AttributeError, ImportError) as exc:
        raise UserError(f"could not load estimator '{path}' ({type(exc).__name__}: {exc}); save it with "
                        "skops.io.dump (or joblib.dump)") from None


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives carry compiled code (`<name>/code/...`); torch.save archives do not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in n for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _refuse_pickled_module(path: Path):
    """What a non-TorchScript file holds, read with torch's weights-only unpickler (it runs no code).

    Tensors or a state dict come back (and are refused by the caller as not a module); a whole
    pickled module cannot be read this way, and the error says how to load it."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # its notes on pickle protocols are noise to the user
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # the weights-only unpickler refused a class: a whole pickled module (or not torch at all)
        raise UserError(f"'{path}' is not TorchScript but a pickled module (torch.save(model)), and loading it runs "
                        "code from the file; if you trust it pass --model-args allow_pickle=true, or save "
                        "TorchScript: torch.jit.save(torch.jit.script(model), path)") from None


class HFSequenceClassifier(HFAdapter):
    """A transformers sequence classifier over texts."""

    capabilities = frozenset({"classify"})
    AUTO_CLASS, ADAPTER, KIND = "AutoModelForSequenceClassification", "hf-classifier", "sequence classifier"

    def __init__(self, spec: str, *, device: str | None = None, dtype: str | None = None,
                 trust_remote_code: bool = False, max_length: int | None = None, batch_size: int = 32,
                 progress: bool = True, name: str | None = None):
        super().__init__(spec, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         max_length=max_length, progress=progress, name=name)
        config = self.model.config
        self.labels = [str(config.id2label.get(i, i)) for i in range(config.num_labels)]
        self.batch_size = batch_size
        if self.tokenizer.pad_token is None:  # GPT-style tokenizers: pad with EOS, the model ignores it by mask
            self.tokenizer.pad_token = self.tokenizer.eos_token
            config.pad_token_id = self.tokenizer.pad_token_id

    def classify(self, inputs: Sequence[str]) -> np.ndarray:
        import torch

        texts = [str(t) for t in inputs]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        out = np.zeros((len(texts), len(self.labels)))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True,
                                       truncation=True, max_length=self.max_length).to(self.device)
                logits = self.model(**batch).logits.float()
                out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out


class SklearnClassifier:
    """A fitted scikit-learn classifier (or anything with predict_proba / predict and classes_).

    From a file: skops (loaded with skops' trusted-type check) without any flag; joblib/pickle only
    with `allow_pickle=True`, since unpickling runs code from the file."""

    capabilities = frozenset({"classify"})

    def __init__(self, spec_or_estimator: Any, *, allow_pickle: bool = False, name: str | None = None):
        if isinstance(spec_or_estimator, (str, Path)):
            path = _existing_file(spec_or_estimator, "estimator")
            data = path.read_bytes()
            if _is_skops(data):
                self.estimator, self.format = _load_skops(path, data), "skops"
            elif path.suffix == ".skops":
                raise UserError(f"'{path}' is not a valid skops file; save the model with skops.io.dump")
            elif allow_pickle is not True:
                raise UserError(f"'{path}' is a pickle/joblib file and loading it runs code from the file; if you "
                                "trust it pass --model-args allow_pickle=true, or save the model with skops "
                                "(skops.io.dump(model, 'model.skops')) and load that")
            else:
                self.estimator, self.format = _load_pickle(path), "pickle"
            self.name = name or path.stem
            self._digest = {"file_sha256": _sha256_bytes(data)}
        else:
            self.estimator, self.format = spec_or_estimator, "object"
            self.name = name or type(spec_or_estimator).__name__
            self._digest = {"pickle_sha256": _sha256_bytes(pickle.dumps(spec_or_estimator))}  # dumping runs nothing
        if not hasattr(self.estimator, "classes_"):
            raise UserError(f"estimator '{self.name}' is not a fitted classifier (no classes_); fit it first")
        self.classes = list(self.estimator.classes_)
        self.labels = [str(c) for c in self.classes]

    def fingerprint(self) -> dict:
        return {"adapter": "sklearn", "model": self.name, "estimator": type(self.estimator).__name__,
                **self._digest}

    def _features(self, inputs):
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is not None and hasattr(inputs, "columns"):
            missing = [c for c in names if c not in inputs.columns]
            if missing:
                raise UserError(f"data lacks the feature columns {missing} the estimator was fitted on")
            return inputs[list(names)]
        return inputs

    def classify(self, inputs) -> np.ndarray:
        features = self._features(inputs)
        if hasattr(self.estimator, "predict_proba"):
            return np.asarray(self.estimator.predict_proba(features), dtype=float)
        return _one_hot(list(self.estimator.predict(features)), self.classes)


class TorchClassifier:
    """A torch module over numeric feature rows."""

    capabilities = frozenset({"classify"})

    def __init__(self, module_or_path: Any, *, device: str | None = None, allow_pickle: bool = False,
                 labels: Sequence[str] | str | None = None, name: str | None = None):
        import torch

        if isinstance(module_or_path, (str, Path)):
            path = _existing_file(module_or_path, "torch model")
            if _is_torchscript(path):
                module = torch.jit.load(str(path), map_location="cpu")
            elif allow_pickle is True:
                module = torch.load(path, map_location="cpu", weights_only=False)  # the user trusts this file
            else:
                module = _refuse_pickled_module(path)
            if not isinstance(module, (torch.nn.Module, torch.jit.ScriptModule)):
                raise UserError(f"'{path}' holds a {type(module).__name__}, not a torch module; save TorchScript "
                                "(torch.jit.save(torch.jit.script(model), path)) or pass the module from Python")
            self.name = name or path.stem
        else:
            module = module_or_path
            self.name = name or type(module).__name__
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = module.to(self.device).eval()
        if isinstance(labels, str):
            labels = labels.split("|")
        self._labels = [str(x) for x in labels] if labels else None

    @property
    def module(self):
        return self.model

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            width = self.classify(np.zeros((1, self._n_inputs())))[0].shape[0]
            self._labels = [str(i) for i in range(width)]
        return self._labels

    def _n_inputs(self) -> int:
        first = next(p for p in self.model.parameters() if p.dim() >= 2)
        return int(first.shape[1])

    def fingerprint(self) -> dict:
        digest = hashlib.sha256()
        for key, tensor in sorted(self.model.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return {"adapter": "torch", "model": self.name, "state_sha256": digest.hexdigest()}

    def classify(self, inputs) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=self.device)
        with torch.inference_mode():
            logits = self.model(x).float()
        if logits.dim() == 1 or logits.shape[-1] == 1:
            p = torch.sigmoid(logits.reshape(-1))
            return torch.stack([1 - p, p], dim=1).cpu().numpy().astype(float)
        return torch.softmax(logits, dim=-1).cpu().numpy().astype(float)


class PredictionsFile:
    """Stored predictions standing in for a model: audit a system you cannot run."""

    capabilities = frozenset({"classify"})

    def __init__(self, source: Any, *, column: str = "prediction", score_column: str | None = None,
                 id_column: str | None = None, labels: Sequence[str] | str | None = None,
                 name: str | None = None):
        pd = require("pandas", "audits")
        if isinstance(source, (str, Path)):
            from evalsuite.task_types import load_table

            path = _existing_file(source, "predictions")
            frame = load_table(path)
            self.name = name or path.stem
            digest = _sha256_bytes(path.read_bytes())
        else:
            frame = pd.DataFrame(source)
            self.name = name or "predictions"
            digest = _sha256_bytes(frame.to_csv(index=False).encode())
        for col in (column, score_column, id_column):
            if col is not None and col not in frame.columns:
                raise UserError(f"predictions have no column '{col}' (columns: {', '.join(map(str, frame.columns))});"
                                " pass column=/score_column=/id_column= in --model-args")
        if frame[column].isna().any():
            raise UserError(f"predictions column '{column}' has missing values; every row needs a prediction")
        self.frame, self.column, self.score_column, self.id_column = frame, column, score_column, id_column
        if isinstance(labels, str):
            labels = labels.split("|")
        values = labels or sorted({str(v) for v in frame[column]})
        self.labels = [str(v) for v in values]
        self._sha256 = digest

    def fingerprint(self) -> dict:
        return {"adapter": "predictions", "model": self.name, "file_sha256": self._sha256}

    def _aligned(self, inputs):
        if self.id_column is not None:
            if not hasattr(inputs, "columns") or self.id_column not in inputs.columns:
                raise UserError(f"the audited data has no id column '{self.id_column}' to join predictions on")
            by_id = self.frame.set_index(self.id_column)
            missing = [i for i in inputs[self.id_column] if i not in by_id.index]
            if missing:
                raise UserError(f"{len(missing)} rows have no prediction (e.g. id {missing[0]!r}); "
                                "predict every row of the data")
            return by_id.loc[list(inputs[self.id_column])]
        if len(inputs) != len(self.frame):
            raise UserError(f"{len(self.frame)} predictions for {len(inputs)} data rows; give one prediction per "
                            "row in order, or join on an id column (id_column=...)")
        return self.frame

    def classify(self, inputs) -> np.ndarray:
        rows = self._aligned(inputs)
        if self.score_column is not None and len(self.labels) == 2:
            p = np.asarray(rows[self.score_column], dtype=float)
            if np.any((p < 0) | (p > 1)):
                raise UserError(f"score column '{self.score_column}' must hold probabilities in [0, 1]")
            return np.stack([1 - p, p], axis=1)
        return _one_hot([str(v) for v in rows[self.column]], self.labels)
