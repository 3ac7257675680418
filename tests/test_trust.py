"""Model files run no code unless the user opts in: pickle/joblib and torch.save'd modules need
allow_pickle=true, skops files load with skops' type check, TorchScript loads as is."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from evalsuite.errors import UserError
from evalsuite.models.classifiers import SklearnClassifier, TorchClassifier
from evalsuite.models.factory import load_model, resolve_model_spec

ROOT = Path(__file__).resolve().parents[1]


class _PlantsMarker:
    """Unpickling this creates the marker file: what a malicious pickle would do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _fitted(n_estimators: int = 3):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(x, y), x


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("suffix", [".pkl", ".joblib"])
def test_a_code_running_pickle_is_refused_without_allow_pickle(tmp_path, suffix):
    marker = tmp_path / "pwned"
    evil = tmp_path / f"model{suffix}"
    evil.write_bytes(pickle.dumps(_PlantsMarker(marker)))
    for load in (lambda: SklearnClassifier(evil), lambda: load_model(f"sklearn:{evil}")):
        with pytest.raises(UserError) as exc:
            load()
        message = _one_line(exc)
        assert "--model-args allow_pickle=true" in message and "skops" in message
    assert not marker.exists()
    with pytest.raises(UserError):  # the torch adapter reads it with the weights-only unpickler: refused too
        TorchClassifier(evil, device="cpu")
    assert not marker.exists()


def test_a_code_running_torch_save_is_refused_without_allow_pickle(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2), "payload": _PlantsMarker(marker)}, evil)
    for load in (lambda: TorchClassifier(evil, device="cpu"), lambda: load_model(f"torch:{evil}", device="cpu")):
        with pytest.raises(UserError) as exc:
            load()
        message = _one_line(exc)
        assert "--model-args allow_pickle=true" in message and "torch.jit.save" in message
    assert not marker.exists()


def test_joblib_loads_with_allow_pickle_and_skops_without_any_flag(tmp_path):
    import joblib
    import skops.io as sio

    est, x = _fitted()
    joblib.dump(est, tmp_path / "m.joblib")
    sio.dump(est, tmp_path / "m.skops")
    pickled = load_model(f"sklearn:{tmp_path / 'm.joblib'}", allow_pickle="true")  # text, as from --model-args
    np.testing.assert_allclose(pickled.classify(x), est.predict_proba(x))
    skops_model = load_model(f"sklearn:{tmp_path / 'm.skops'}")  # RandomForest needs sklearn's own Tree type
    assert skops_model.format == "skops"
    np.testing.assert_allclose(skops_model.classify(x), est.predict_proba(x))
    assert skops_model.fingerprint()["file_sha256"]
    in_python = SklearnClassifier(est)  # an estimator object (not a file) needs nothing
    np.testing.assert_allclose(in_python.classify(x), est.predict_proba(x))


def _double(x):
    return 2 * np.asarray(x)


class PlantingClassifier:
    """A classifier type skops does not know: its file must be refused before the type is rebuilt."""

    marker = None

    def __setstate__(self, state):
        Path(state["marker"]).write_text("ran")
        self.__dict__.update(state)


def test_skops_refuses_types_that_are_not_trusted_or_sklearns_and_names_them(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "ran"
    odd = PlantingClassifier()
    odd.marker, odd.classes_ = str(marker), np.array([0, 1])
    sio.dump(odd, tmp_path / "odd.skops")
    with pytest.raises(UserError) as exc:
        SklearnClassifier(tmp_path / "odd.skops")
    message = _one_line(exc)
    assert f"{PlantingClassifier.__module__}.PlantingClassifier" in message and "skops.io.load" in message
    assert not marker.exists()

    pipe = make_pipeline(FunctionTransformer(_double), LogisticRegression()).fit([[0.0], [1.0]], [0, 1])
    sio.dump(pipe, tmp_path / "pipe.skops")
    with pytest.raises(UserError, match=f"{__name__}._double"):  # a function it would call is refused too
        SklearnClassifier(tmp_path / "pipe.skops")


def test_only_types_defined_in_sklearn_count_as_sklearns_own():
    import sklearn.datasets._base as base

    from evalsuite.models.classifiers import _sklearn_own

    assert _sklearn_own("sklearn.tree._tree.Tree")
    assert not _sklearn_own("sklearnx.Tree") and not _sklearn_own("builtins.eval")
    if hasattr(base, "listdir"):  # os.listdir, imported by a scikit-learn module: not scikit-learn's own
        assert not _sklearn_own("sklearn.datasets._base.listdir")


def test_torchscript_loads_without_a_flag_and_a_saved_module_with_allow_pickle(tmp_path):
    lin = torch.nn.Linear(3, 2)
    torch.jit.save(torch.jit.script(lin), str(tmp_path / "s.pt"))
    torch.save(lin, tmp_path / "whole.pt")
    torch.save(lin.state_dict(), tmp_path / "weights.pt")
    x = np.random.default_rng(0).normal(size=(4, 3))
    expected = torch.softmax(lin(torch.tensor(x, dtype=torch.float32)), -1).detach().numpy()
    np.testing.assert_allclose(TorchClassifier(tmp_path / "s.pt", device="cpu").classify(x), expected, atol=1e-6)
    with pytest.raises(UserError, match="allow_pickle=true"):
        TorchClassifier(tmp_path / "whole.pt", device="cpu")
    whole = load_model(f"torch:{tmp_path / 'whole.pt'}", device="cpu", allow_pickle=True)
    np.testing.assert_allclose(whole.classify(x), expected, atol=1e-6)
    with pytest.raises(UserError, match="holds a OrderedDict, not a torch module"):
        TorchClassifier(tmp_path / "weights.pt", device="cpu")


def test_trust_remote_code_is_a_real_bool(tiny_lm):
    from evalsuite.models.hf import HFCausalLM

    assert resolve_model_spec(f"hf:{tiny_lm}", {"trust_remote_code": "false"}).options["trust_remote_code"] is False
    with pytest.raises(UserError, match="trust_remote_code must be true or false"):
        resolve_model_spec(f"hf:{tiny_lm}", {"trust_remote_code": "nope"})
    with pytest.raises(UserError, match="trust_remote_code must be True or False"):
        HFCausalLM(str(tiny_lm), trust_remote_code="false", progress=False)  # a string is never truthy here


def _calls(pattern: str) -> list[tuple[str, str]]:
    found = []
    for folder in ("evalsuite", "audits", "privacy", "leaderboards", "tasks", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if re.search(pattern, line) and not line.lstrip().startswith("#"):
                    found.append((str(path.relative_to(ROOT)), line.strip()))
    return found


def test_no_code_loads_pickles_except_behind_allow_pickle():
    """Source guard: torch.load always weights-only but for the one opt-in; pickle/joblib loads only there."""
    torch_loads = [c for c in _calls(r"torch\.load\(") if "weights_only=True" not in c[1]]
    assert torch_loads == [("evalsuite/models/classifiers.py",
                            'module = torch.load(path, map_location="cpu", weights_only=False)  '
                            "# the user trusts this file")]
    assert [c[0] for c in _calls(r"\b(pickle|joblib|dill|cloudpickle)\.loads?\(")] == ["evalsuite/models/classifiers.py"]
