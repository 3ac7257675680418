"""Answer a list of requests with a model, through the request cache.

The one place where tasks' requests meet a model: requests are split by kind,
answers already cached for this model fingerprint are read back, and the rest
go to the adapter in one call per kind (so the engine can batch and share
contexts across all of them). Each answer is committed to the cache as soon as
it is ready; that is what lets a killed run resume.
"""

from __future__ import annotations

from collections.abc import Sequence

from evalsuite.cache import RequestCache
from evalsuite.errors import UserError
from evalsuite.requests import KIND_OF, Request, Result


def answer(model, requests: Sequence[Request], cache: RequestCache | None = None) -> list[Result]:
    results: list[Result | None] = [None] * len(requests)
    by_kind: dict[str, list[int]] = {}
    for i, req in enumerate(requests):
        by_kind.setdefault(KIND_OF[type(req)], []).append(i)
    fingerprint = model.fingerprint() if cache is not None else None
    for kind, indices in by_kind.items():
        if kind not in model.capabilities:
            raise UserError(f"model '{model.name}' cannot answer '{kind}' requests; pick a task it supports")
        todo = indices
        if cache is not None:
            found = cache.lookup(fingerprint, [requests[i] for i in indices])
            for j, value in found.items():
                results[indices[j]] = value
            todo = [i for j, i in enumerate(indices) if j not in found]
        if not todo:
            continue
        batch = [requests[i] for i in todo]

        def on_result(j, value, batch=batch, todo=todo):
            results[todo[j]] = value
            if cache is not None:
                cache.store(fingerprint, [(batch[j], value)])

        answers = getattr(model, kind)(batch, on_result=on_result)  # adapter methods are named by kind
        for j, value in enumerate(answers):
            results[todo[j]] = value
    return results
