"""Intervals that stay in the metric's range: the Wilson score interval against published values and scipy,
the per-sample interval rules, and a real lm-eval run whose records are checked against their own samples.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from evalsuite.stats import bootstrap_ci, sample_interval, wilson_interval

# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of seven
# methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity correction).
NEWCOMBE_TABLE_I = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)), ((0, 20), (0.0, 0.1611)),
                    ((1, 29), (0.0061, 0.1718))]


@pytest.mark.parametrize("counts,published", NEWCOMBE_TABLE_I)
def test_wilson_matches_newcombes_published_values(counts, published):
    low, high = wilson_interval(*counts)
    assert (round(low, 4), round(high, 4)) == published


@pytest.mark.parametrize("n", [1, 2, 5, 13, 40, 1000])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_scipy_and_stays_in_the_unit_interval(n, confidence):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        if not 0 <= k <= n:
            continue
        expected = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        low, high = wilson_interval(k, n, confidence)
        assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)
        assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(0, n, confidence)[0] == 0.0 and wilson_interval(n, n, confidence)[1] == 1.0


def test_wilson_refuses_impossible_counts():
    for args in ((3, 2), (-1, 5), (1, 0), (0.5, 2)):
        with pytest.raises(ValueError):
            wilson_interval(*args)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, 1.0)


def test_the_normal_approximation_leaves_the_range_where_wilson_does_not():
    """The case that motivated this: acc 0.4 on 5 questions, lm-eval stderr sqrt(p(1-p)/(n-1))."""
    stderr = math.sqrt(0.4 * 0.6 / 4)
    assert 0.4 - 1.96 * stderr < 0  # what records used to carry
    interval = sample_interval([1, 0, 1, 0, 0], "mean", 0.4)
    assert interval.method == "wilson-score" and interval.range == (0.0, 1.0)
    assert interval.ci == pytest.approx(list(stats.binomtest(2, 5).proportion_ci(method="wilson")))


def test_bootstrap_of_a_mean_agrees_with_the_t_interval_on_many_samples():
    values = np.random.default_rng(4).gamma(2.0, 1.5, size=3000)
    interval = sample_interval(list(values), "mean", float(values.mean()), seed=3, n_resamples=4000)
    t = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert interval.method == "bootstrap-percentile" and interval.range is None
    assert interval.ci == pytest.approx(t, abs=0.01)


def test_corpus_aggregate_is_recomputed_on_resampled_rows():
    """bits_per_byte = -sum(ll) / sum(bytes) / ln 2: its bootstrap interval agrees with the delta method."""
    rng = np.random.default_rng(9)
    size = rng.integers(50, 400, 2000).astype(float)
    ll = -size * rng.normal(2.0, 0.4, 2000)  # about 2 nats per byte, varying by document
    value = -ll.sum() / size.sum() / math.log(2)
    interval = sample_interval([(a, b) for a, b in zip(ll, size)], "bits_per_byte", value, seed=1,
                               n_resamples=3000)
    # delta method for a ratio of means R = mean(y)/mean(x): var = var(y - R x) / (n mean(x)^2)
    y, x = -ll / math.log(2), size
    se = np.std(y - value * x, ddof=1) / (math.sqrt(len(x)) * x.mean())
    assert interval.method == "bootstrap-percentile (bits_per_byte recomputed)"
    assert interval.ci == pytest.approx((value - 1.96 * se, value + 1.96 * se), rel=2e-3)
    ppl = sample_interval([(a, b) for a, b in zip(ll, size)], "weighted_perplexity",
                          math.exp(-ll.sum() / size.sum()), seed=1, n_resamples=500)
    assert ppl.ci[0] < math.exp(-ll.sum() / size.sum()) < ppl.ci[1]


def test_no_interval_rather_than_a_wrong_one():
    assert sample_interval([0.2, 0.9], "f1_score", 0.5).ci is None  # not a mean: nothing to resample honestly
    mismatch = sample_interval([1, 0, 1], "mean", 0.9)  # the values do not give the reported metric
    assert mismatch.ci is None and mismatch.method == "none" and "0.666667" in mismatch.note
    assert sample_interval([], "mean", 0.5).method == "none"
    assert sample_interval([0.3], "mean", 0.3).ci is None  # one non-binary sample: no bootstrap
    assert sample_interval([("a", 1)], "bits_per_byte", 1.0).ci is None


def test_bootstrap_ci_is_seeded():
    values = {"x": np.arange(30, dtype=float)}
    first = bootstrap_ci(values, lambda c: c["x"].mean(-1), seed=5)
    assert first == bootstrap_ci(values, lambda c: c["x"].mean(-1), seed=5)
    assert first != bootstrap_ci(values, lambda c: c["x"].mean(-1), seed=6)


@pytest.fixture(scope="module")
def lmeval_run(tiny_lm, lmeval_tasks, tmp_path_factory):
    """A real run of three lm-eval task types and a group that aggregates acc by size, five samples each."""
    import evalsuite

    folder = tmp_path_factory.mktemp("lmeval_group")
    for name in ("toy_mc", "toy_ppl", "toy_gen"):
        (folder / f"{name}.yaml").write_text((lmeval_tasks / f"{name}.yaml").read_text())
    (folder / "toy_mc_b.yaml").write_text((lmeval_tasks / "toy_mc.yaml").read_text()
                                          .replace("task: toy_mc", "task: toy_mc_b")
                                          .replace('"Q: {{question}}\\nA:"', '"Question: {{question}}\\nAnswer:"'))
    (folder / "toy_sized.yaml").write_text("group: toy_sized\ntask:\n  - toy_mc\n  - toy_mc_b\n"
                                           "aggregate_metric_list:\n  - metric: acc\n    weight_by_size: true\n")
    out = tmp_path_factory.mktemp("lmeval_out")
    summary = evalsuite.run(model=str(tiny_lm), tasks=["toy_mc", "toy_ppl", "toy_gen", "toy_sized"],
                            tasks_path=[str(folder)], output_dir=str(out), progress=False, limit=5)
    records = {}
    for task, path in summary["records"].items():
        path = Path(out) / path
        samples = [json.loads(line) for line in (path.parent / "samples.jsonl").read_text().splitlines() if line]
        records[task] = (json.loads(path.read_text()), samples)
    return records


def _record(records, short):
    return next(v for k, v in records.items() if k.split("/", 1)[-1] == short)


def test_lmeval_proportions_get_wilson_intervals_equal_to_the_samples_file(lmeval_run):
    record, samples = _record(lmeval_run, "toy_mc")
    for metric in ("acc", "acc_norm"):
        entry = record["metrics"][metric]
        scores = [row["scores"][metric] for row in samples]
        successes, n = int(sum(scores)), len(scores)
        expected = stats.binomtest(successes, n).proportion_ci(method="wilson")
        assert entry["value"] == pytest.approx(successes / n) and entry["n"] == n == 5
        assert entry["ci_method"] == "wilson-score" and entry["range"] == [0.0, 1.0]
        assert entry["ci"] == pytest.approx([expected.low, expected.high], abs=1e-12)
        # lm-eval's own standard error is kept: sample sd (ddof 1) / sqrt(n)
        assert entry["lmeval_stderr"] == pytest.approx(np.std(scores, ddof=1) / math.sqrt(n))


def test_lmeval_every_proportion_interval_lies_in_the_unit_interval(lmeval_run):
    seen = 0
    for record, samples in lmeval_run.values():
        for name, entry in record["metrics"].items():
            if entry.get("range") == [0.0, 1.0]:
                seen += 1
                assert entry["ci"] is not None and 0.0 <= entry["ci"][0] <= entry["value"] <= entry["ci"][1] <= 1.0
            assert entry["ci_method"] != "lm-eval stderr, normal approximation"
    assert seen >= 5  # toy_mc acc/acc_norm, toy_gen exact_match, toy_sized acc and its subtasks


def test_lmeval_generation_metric_under_a_filter(lmeval_run):
    record, samples = _record(lmeval_run, "toy_gen")
    entry = record["metrics"]["exact_match,first_word"]
    k = int(sum(row["scores"]["exact_match"] for row in samples))
    expected = stats.binomtest(k, 5).proportion_ci(method="wilson")
    assert entry["ci"] == pytest.approx([expected.low, expected.high], abs=1e-12)


def test_lmeval_corpus_perplexities_are_bootstrapped_by_recomputing_the_aggregate(lmeval_run):
    record, samples = _record(lmeval_run, "toy_ppl")
    ll = np.array([row["scores"]["bits_per_byte"][0] for row in samples])
    n_bytes = np.array([row["scores"]["bits_per_byte"][1] for row in samples])
    n_words = np.array([row["scores"]["word_perplexity"][1] for row in samples])
    bpb, wppl = record["metrics"]["bits_per_byte"], record["metrics"]["word_perplexity"]
    assert bpb["value"] == pytest.approx(-ll.sum() / n_bytes.sum() / math.log(2))
    assert wppl["value"] == pytest.approx(math.exp(-ll.sum() / n_words.sum()))
    for entry, name in ((bpb, "bits_per_byte"), (wppl, "weighted_perplexity")):
        assert entry["ci_method"] == f"bootstrap-percentile ({name} recomputed)"
        assert 0 < entry["ci"][0] <= entry["value"] <= entry["ci"][1]
        assert entry["lmeval_stderr"] is None and "range" not in entry  # lm-eval gives "N/A" here
    # the interval is the spread of the aggregate over resampled documents: inside the per-document extremes
    per_doc = -ll / n_bytes / math.log(2)
    assert per_doc.min() <= bpb["ci"][0] and bpb["ci"][1] <= per_doc.max()


def test_lmeval_group_aggregate_pools_its_subtasks_samples(lmeval_run):
    record, samples = _record(lmeval_run, "toy_sized")
    pooled = [row["scores"]["acc"] for row in samples]
    assert {row["task"] for row in samples} == {"toy_mc", "toy_mc_b"} and len(pooled) == 10
    entry = record["metrics"]["acc"]
    expected = stats.binomtest(int(sum(pooled)), len(pooled)).proportion_ci(method="wilson")
    assert entry["value"] == pytest.approx(np.mean(pooled)) and entry["n"] == 10
    assert entry["ci_method"] == "wilson-score" and entry["ci"] == pytest.approx([expected.low, expected.high])
    sub = [row["scores"]["acc"] for row in samples if row["task"] == "toy_mc_b"]
    expected = stats.binomtest(int(sum(sub)), 5).proportion_ci(method="wilson")
    assert record["metrics"]["toy_mc_b/acc"]["ci"] == pytest.approx([expected.low, expected.high])


def test_collect_keeps_the_runner_signature():
    import inspect

    from evalsuite.lmeval.tasks import _collect, run_lmeval_task

    params = inspect.signature(_collect).parameters
    assert params["seed"].default == 1234 and params["n_resamples"].default == 1000
    assert params["seed"].kind is inspect.Parameter.KEYWORD_ONLY
    run_params = inspect.signature(run_lmeval_task).parameters
    assert {"limit", "seed"} <= set(run_params) and run_params["n_resamples"].default == 1000
