"""WEAT / SEAT association tests for encoders: effect size, permutation p-value, bootstrap CI.

With cosine similarity cos, the association of a vector w with attribute sets A and B is
s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b). For target sets X and Y:

    effect size d = (mean_x s(x) - mean_y s(y)) / std_{w in X ∪ Y} s(w)

The standard deviation's ddof is pinned to **1** (the sample standard deviation) by default;
pass ddof=0 for the population version some implementations use. On DESIGN.md's example
(A={(1,0)}, B={(0,1)}, X={(1,.2),(1,.5)}, Y={(.2,1),(.5,1)}) ddof=1 gives 1.671 and ddof=0
gives 1.929; records carry the ddof used.

p-value (one-sided, Caliskan et al.): the share of equal-size re-partitions (X_i, Y_i) of
X ∪ Y with sum_x s(x) - sum_y s(y) >= the observed value. Exact (every partition, the
observed one included) when there are at most `exact_limit` partitions; otherwise sampled,
as (1 + hits) / (1 + permutations) so it is never 0.

SEAT (May et al. 2019) puts each word into sentence templates and embeds the sentences;
every sentence is one member of its set. Tests and templates are in data/seat_tests.yaml.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from evalsuite.audits.probe_data import DATA_DIR, load_yaml
from evalsuite.errors import UserError
from evalsuite.jobs import Job, JobContext, JobOutcome
from evalsuite.stats import percentile_interval, resample_indices
from evalsuite.task_types import HIGHER, ideal

BUILTIN = DATA_DIR / "seat_tests.yaml"
DEFAULT_DDOF = 1


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def associations(W, A, B) -> np.ndarray:
    """s(w, A, B) for every row w of W."""
    W, A, B = _unit(W), _unit(A), _unit(B)
    return (W @ A.T).mean(axis=1) - (W @ B.T).mean(axis=1)


def effect_size_from(s_x: np.ndarray, s_y: np.ndarray, ddof: int = DEFAULT_DDOF) -> float:
    pooled = np.concatenate([s_x, s_y])
    return float((s_x.mean() - s_y.mean()) / pooled.std(ddof=ddof))


def effect_size(X, Y, A, B, *, ddof: int = DEFAULT_DDOF) -> float:
    return effect_size_from(associations(X, A, B), associations(Y, A, B), ddof)


def permutation_p_value(s_x: np.ndarray, s_y: np.ndarray, *, n_permutations: int = 10000, exact_limit: int = 50000,
                        seed: int = 0) -> tuple[float, bool, int]:
    """(p-value, exact?, partitions counted) of the one-sided test on association values."""
    pooled = np.concatenate([s_x, s_y])
    n, k = len(pooled), len(s_x)
    total = pooled.sum()
    observed = 2 * s_x.sum() - total  # sum_x - sum_y, written through the pooled total
    tolerance = 1e-12 * max(1.0, abs(observed))
    if math.comb(n, k) <= exact_limit:
        stats = np.array([2 * pooled[list(c)].sum() - total for c in itertools.combinations(range(n), k)])
        return float(np.mean(stats >= observed - tolerance)), True, len(stats)
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((n_permutations, n)), axis=1)[:, :k]
    stats = 2 * pooled[picks].sum(axis=1) - total
    return float((1 + np.sum(stats >= observed - tolerance)) / (1 + n_permutations)), False, n_permutations


@dataclass
class WeatResult:
    effect_size: float
    p_value: float
    exact: bool
    n_partitions: int
    ci: tuple[float, float]
    ddof: int
    n_x: int
    n_y: int


def weat(X, Y, A, B, *, ddof: int = DEFAULT_DDOF, n_permutations: int = 10000, exact_limit: int = 50000,
         n_resamples: int = 1000, seed: int = 0) -> WeatResult:
    """Effect size, permutation p-value and a bootstrap CI (targets resampled within X and within Y)."""
    s_x, s_y = associations(X, A, B), associations(Y, A, B)
    p, exact, count = permutation_p_value(s_x, s_y, n_permutations=n_permutations, exact_limit=exact_limit,
                                          seed=seed)
    # The shared bootstrap (evalsuite.stats), stratified by set: X rows are redrawn from X, Y rows from Y.
    pooled = np.concatenate([s_x, s_y])
    idx = resample_indices(len(pooled), n_resamples, seed, strata=np.repeat([0, 1], [len(s_x), len(s_y)]))
    drawn = pooled[idx]
    bx, by = drawn[:, :len(s_x)], drawn[:, len(s_x):]
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (bx.mean(1) - by.mean(1)) / drawn.std(axis=1, ddof=ddof)
    lo, hi = percentile_interval(boot, 0.95)
    return WeatResult(effect_size_from(s_x, s_y, ddof), p, exact, count, (float(lo), float(hi)), ddof,
                      len(s_x), len(s_y))


def seat_sentences(words, templates) -> list[str]:
    out = []
    for word in words:
        for template in templates:
            sentence = template.format(word)
            out.append(sentence[:1].upper() + sentence[1:])
    return out


def run_seat(model, ctx: JobContext, data: dict, tests=None, *, ddof: int = DEFAULT_DDOF,
             permutations: int = 10000) -> JobOutcome:
    from evalsuite.fingerprint import sha256_json
    from evalsuite.records import metric_entry

    chosen = tests or list(data["tests"])
    unknown = [t for t in chosen if t not in data["tests"]]
    if unknown:
        raise UserError(f"unknown SEAT test {', '.join(unknown)}; known: {', '.join(data['tests'])}")
    templates = data.get("templates") or ["{}"]
    metrics, samples, table = {}, [], []
    for name in chosen:
        test = data["tests"][name]
        sets = {key: seat_sentences(test[key], templates) for key in ("X", "Y", "A", "B")}
        vectors = {key: np.asarray(model.embed(sentences), dtype=float) for key, sentences in sets.items()}
        result = weat(vectors["X"], vectors["Y"], vectors["A"], vectors["B"], ddof=ddof,
                      n_permutations=permutations,
                      n_resamples=ctx.bootstrap_resamples, seed=ctx.seed)
        n = result.n_x + result.n_y
        metrics[f"{name}.effect_size"] = metric_entry(result.effect_size, ideal(0).to_json(), result.ci,
                                                      f"bootstrap-percentile-targets (ddof={ddof})", n)
        metrics[f"{name}.p_value"] = metric_entry(result.p_value, HIGHER.to_json(), None,
                                                  "permutation-exact" if result.exact else "permutation-sampled", n)
        table.append({"test": name, "effect_size": result.effect_size, "ci": list(result.ci),
                      "p_value": result.p_value, "exact": result.exact, "partitions": result.n_partitions,
                      "ddof": ddof, "n_x": result.n_x, "n_y": result.n_y})
        samples.append({"doc_id": len(samples), "test": name,
                        "scores": {"effect_size": result.effect_size, "p_value": result.p_value}})
    return JobOutcome(metrics=metrics, samples=samples, data_hash=sha256_json([data, chosen]),
                      details={"seat": table, "ddof": ddof, "templates": templates})


def seat_job(tests=None, path=None, *, ddof: int = DEFAULT_DDOF, permutations: int = 10000) -> Job:
    """A Job running SEAT tests of the built-in (or the user's) data; the data and test names are checked now."""
    data = load_yaml(path or BUILTIN)
    if not isinstance(data.get("tests"), dict):
        raise UserError(f"'{path or BUILTIN}' needs 'tests' (name -> X, Y, A, B word lists)")
    unknown = [t for t in tests or () if t not in data["tests"]]
    if unknown:
        raise UserError(f"unknown SEAT test {', '.join(unknown)}; known: {', '.join(data['tests'])}")

    def run(model, ctx):
        return run_seat(model, ctx, data, tests, ddof=ddof, permutations=permutations)

    return Job(run=run, category="fairness", requires=("embed",),
               description="SEAT sentence-encoder association tests (effect size, permutation p-value)")
