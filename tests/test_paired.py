"""Paired comparisons (benchmarks.metrics.paired, paired_sets): calibrated against scipy's bootstrap and
permutation test, the binomial interval of the false-positive rate, the normal approximation of the power,
a textbook Holm example, and the FAD/KAD engines of benchmarks.metrics.frechet / kad."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from benchmarks.metrics.frechet import embedding_stats, fad, frechet_distance, weighted_stats
from benchmarks.metrics.kad import kad
from benchmarks.metrics.paired import (
    adjust_family,
    bootstrap_ci_rows,
    holm,
    mark,
    paired_difference,
    sign_flip_pvalues,
)
from benchmarks.metrics.paired_sets import (
    fad_difference_replicates,
    kad_difference_replicates,
    set_difference,
)


def _pair(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two systems' scores on n clips: a shared clip difficulty plus independent noise, B shifted."""
    rng = np.random.default_rng(seed)
    clip = rng.normal(0.0, 3.0, n)
    return clip + rng.normal(0.0, 1.0, n), clip + rng.normal(shift, 1.0, n)


# ----------------------------------------------------------------------------------------------- per clip


def test_interval_agrees_with_scipy_paired_percentile_bootstrap():
    a, b = _pair(40, -0.4, seed=1)
    mine = paired_difference(a, b, n_boot=20000, seed=3)
    ref = scipy.stats.bootstrap(
        (a, b), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True, vectorized=True,
        n_resamples=20000, method="percentile", rng=np.random.default_rng(7),
    ).confidence_interval  # fmt: skip
    se = np.std(a - b, ddof=1) / np.sqrt(a.size)  # the bootstrap distribution's spread
    assert mine.difference == pytest.approx(np.mean(a - b))
    # each endpoint's Monte-Carlo error is ~0.03 se at 20,000 resamples: 0.12 se is four of them
    assert mine.ci[0] == pytest.approx(ref.low, abs=0.12 * se)
    assert mine.ci[1] == pytest.approx(ref.high, abs=0.12 * se)


def _scipy_sign_flip(a: np.ndarray, b: np.ndarray, n: float, seed: int) -> float:
    return scipy.stats.permutation_test(
        (a, b), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples",
        vectorized=True, n_resamples=n, alternative="two-sided", rng=np.random.default_rng(seed),
    ).pvalue  # fmt: skip


def test_pvalue_agrees_with_scipy_permutation_test_random_and_exact():
    a, b = _pair(30, 0.35, seed=4)
    mine = paired_difference(a, b, n_perm=40000, seed=1).p_value
    ref = _scipy_sign_flip(a, b, 39999, seed=2)
    assert 0.01 < ref < 0.5  # a p-value where Monte-Carlo error matters
    assert mine == pytest.approx(ref, abs=4 * np.sqrt(2 * ref * (1 - ref) / 40000) + 1e-4)

    a, b = _pair(11, 0.6, seed=5)  # 2^11 sign patterns: both enumerate them all
    exact = paired_difference(a, b, n_perm=5000)
    assert "exact" in exact.test
    assert exact.p_value == pytest.approx(_scipy_sign_flip(a, b, np.inf, seed=0), rel=1e-12)


def test_identical_systems_keep_the_level_and_their_intervals_cover_zero():
    seeds, n = 400, 30
    d = np.stack([np.subtract(*_pair(n, 0.0, seed=s)) for s in range(seeds)])  # exchangeable systems
    p, exact = sign_flip_pvalues(d, n_perm=999, seed=0)
    assert not exact
    rejections = int((p < 0.05).sum())
    lo, hi = scipy.stats.binom.ppf([0.0005, 0.9995], seeds, 0.05)  # 99.9 % binomial interval
    assert lo <= rejections <= hi, rejections
    ci = bootstrap_ci_rows(d, n_boot=1000, seed=1)
    coverage = np.mean((ci[:, 0] <= 0.0) & (0.0 <= ci[:, 1]))
    # percentile intervals under-cover a little at n = 30 (about 0.94 for normal data)
    assert 0.90 <= coverage <= 0.985, coverage

    same = paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.difference == 0.0 and same.ci == (0.0, 0.0) and same.p_value == 1.0 and same.mark == ""


def test_a_known_shift_is_found_with_the_power_the_normal_approximation_predicts():
    seeds, n, shift = 1000, 100, 0.25
    rng = np.random.default_rng(11)
    d = rng.normal(shift, 1.0, size=(seeds, n))
    p, _ = sign_flip_pvalues(d, n_perm=999, seed=2)
    # The mean difference is N(shift, 1/n); under sign flips it has variance E[d²]/n = (1 + shift²)/n (the
    # second moment), so the test rejects when |mean| > z·sqrt((1 + shift²)/n).
    z = scipy.stats.norm.ppf(0.975) * np.sqrt(1.0 + shift**2)
    power = scipy.stats.norm.cdf(shift * np.sqrt(n) - z) + scipy.stats.norm.cdf(-shift * np.sqrt(n) - z)
    assert power == pytest.approx(0.684, abs=0.001)
    assert np.mean(p < 0.05) == pytest.approx(power, abs=0.06)  # 4 binomial SDs at 1,000 seeds


def test_fixed_seeds_reproduce_and_skipped_clips_are_counted():
    a, b = _pair(25, 0.5, seed=8)
    a, b = list(a), list(b)
    a[3], a[7], b[7], b[9] = None, float("nan"), None, float("nan")
    first = paired_difference(a, b, seed=5)
    assert first == paired_difference(a, b, seed=5)
    assert first.ci != paired_difference(a, b, seed=6).ci
    assert (first.n_clips, first.skipped_a, first.skipped_b) == (22, 2, 2)
    valid = [i for i in range(25) if i not in (3, 7, 9)]
    assert first.difference == pytest.approx(np.mean([a[i] - b[i] for i in valid]))
    assert paired_difference([1.0, None], [2.0, 3.0]).status == "not computed"


def test_holm_matches_a_worked_example_and_controls_the_family_wise_error():
    # sorted 0.005, 0.01, 0.03, 0.04 → 4·0.005, 3·0.01, 2·0.03, max(1·0.04, 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, None, 0.01]) == [pytest.approx(0.2), None, pytest.approx(0.02)]
    rng = np.random.default_rng(0)
    families = rng.uniform(size=(2000, 10))  # 10 true null hypotheses per family
    adjusted = np.array([holm(list(f)) for f in families], dtype=float)
    assert np.all(adjusted >= families - 1e-15) and np.all(adjusted <= np.minimum(1, 10 * families) + 1e-15)
    fwer = np.mean((adjusted < 0.05).any(axis=1))
    assert fwer <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 2000)


def test_family_adjustment_and_marks():
    comps = [paired_difference(*_pair(40, s, seed=i)) for i, s in enumerate((0.0, 1.0, 2.0))]
    adjust_family(comps, "test family")
    assert all("test family (Holm, 3 tests)" == c.family for c in comps)
    assert comps[2].p == comps[2].p_adjusted >= comps[2].p_value
    assert [mark(p) for p in (0.2, 0.04, 0.009, 0.0004, None)] == ["", "*", "**", "***", ""]


# ----------------------------------------------------------------------------------------------- sets


def _sets(clips: int, frames: int, dim: int, seed: int) -> tuple[list, list, list]:
    rng = np.random.default_rng(seed)
    ref = [rng.normal(2.0, 1.0, (frames, dim)) for _ in range(clips)]
    a = [r + 0.3 * rng.standard_normal(r.shape) for r in ref]
    b = [r + 0.5 * rng.standard_normal(r.shape) + 0.1 for r in ref]
    return ref, a, b


@pytest.mark.parametrize("frames,dim", [(4, 6), (1, 40)])  # covariance form; fewer frames than dimensions
def test_fad_resamples_are_weighted_fads_of_the_frechet_engine(frames, dim):
    ref, a, b = _sets(30, frames, dim, seed=frames)
    rng = np.random.default_rng(0)
    weights = np.vstack([np.ones(30), rng.multinomial(30, np.ones(30) / 30, size=3)]).astype(float)
    got = fad_difference_replicates(ref, a, b, weights)
    owners = np.repeat(np.arange(30), frames)
    flat = [np.concatenate(s) for s in (ref, a, b)]
    for w, value in zip(weights, got):
        stats = [weighted_stats(x, w[owners]) for x in flat]
        expected = frechet_distance(stats[0], stats[1], method="eigh") - frechet_distance(
            stats[0], stats[2], method="eigh"
        )
        assert value == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert got[0] == pytest.approx(fad(flat[0], flat[1]) - fad(flat[0], flat[2]), rel=1e-6)


def test_set_difference_interval_flips_and_identical_systems():
    ref, a, b = _sets(40, 3, 5, seed=2)
    c = set_difference("fad-x", ref, a, b, n_boot=300, seed=1)
    flat = [np.concatenate(s) for s in (ref, a, b)]
    assert c.difference == pytest.approx(fad(flat[0], flat[1]) - fad(flat[0], flat[2]), rel=1e-6)
    assert c.ci[1] < 0 and c.sign_flip_share == 0.0 and c.p_value == pytest.approx(2 / 301)
    assert c.frames == (120, 120, 120) and c.resamples == 300 and c.shift is not None
    again = set_difference("fad-x", ref, a, b, n_boot=300, seed=1)
    assert again.to_dict() == c.to_dict()  # fixed seed: the same interval and p (only the time differs)
    assert set_difference("fad-x", ref, a, b, n_boot=300, seed=2).ci != c.ci

    same = set_difference("fad-x", ref, a, a, n_boot=100)
    assert same.difference == 0.0 and same.ci == (0.0, 0.0) and same.p_value == 1.0

    k = set_difference("kad-x", ref, a, b, n_boot=200, seed=1)
    x = flat[0]
    assert k.difference == pytest.approx(kad(x, flat[1]) - kad(x, flat[2]), rel=1e-9)
    assert k.ci[1] < 0 and k.p_value < 0.05 and k.frames == (120, 120, 120)
    assert kad_difference_replicates(ref, a, b, np.ones((1, 40)))[0] == pytest.approx(k.difference)

    assert set_difference("fad-x", ref, a, b[:-1]).status == "not computed"
    assert embedding_stats(flat[0]).n == 120
