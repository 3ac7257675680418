"""The adapter protocols tasks and jobs program against.

A model adapter answers the requests its capabilities name and says who it
is (a fingerprint). Language models answer loglikelihood, rolling
loglikelihood and generate; classifiers answer classify; encoders answer
embed. Jobs that need gradients (attributions, DP fine-tuning) reach the
underlying torch module and tokenizer through `module` and `tokenizer`.
Remote endpoints and scikit-learn estimators implement the same protocols
without a torch module (`module` is None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from evalsuite.requests import Generate, Loglikelihood, LoglikelihoodResult, LoglikelihoodRolling, RollingResult

OnResult = Callable[[int, Any], None]  # called with (request index, result) as results finish


@runtime_checkable
class LanguageModel(Protocol):
    """A model that scores and generates text."""

    name: str
    capabilities: frozenset[str]  # subset of {"loglikelihood", "loglikelihood_rolling", "generate"}

    def fingerprint(self) -> dict: ...

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_result: OnResult | None = None
                      ) -> list[LoglikelihoodResult]: ...

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_result: OnResult | None = None
                              ) -> list[RollingResult]: ...

    def generate(self, requests: Sequence[Generate], on_result: OnResult | None = None) -> list[str]: ...


@runtime_checkable
class Classifier(Protocol):
    """A model that maps inputs (texts or feature rows) to class probabilities."""

    name: str
    labels: Sequence[str]

    def fingerprint(self) -> dict: ...

    def classify(self, inputs: Sequence[Any]) -> Sequence[Sequence[float]]: ...


@runtime_checkable
class Encoder(Protocol):
    """A model that maps texts to fixed-size vectors."""

    name: str

    def fingerprint(self) -> dict: ...

    def embed(self, texts: Sequence[str]) -> Any: ...
