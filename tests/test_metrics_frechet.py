"""Fréchet distance against closed forms and a direct SciPy computation; FAD-∞; bootstrap; order invariance."""

import numpy as np
import pytest
import scipy.linalg

from benchmarks.metrics.bootstrap import bootstrap_mean_ci
from benchmarks.metrics.frechet import (
    GaussianStats,
    bootstrap_fad_ci,
    embedding_stats,
    fad,
    fad_inf,
    frechet_distance,
    per_clip_fad,
    trace_sqrt_product,
    weighted_stats,
)


def _random_cov(d, rng):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_closed_form_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    got = frechet_distance(GaussianStats(mu1, np.diag(v1), 0), GaussianStats(mu2, np.diag(v2), 0))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)  # = 5 + 1 + 1 + 4
    assert got == pytest.approx(expected, abs=1e-10)
    assert expected == pytest.approx(11.0)


def test_closed_form_scaled_covariance():
    rng = np.random.default_rng(0)
    cov = _random_cov(16, rng)
    mu = rng.standard_normal(16)
    # Σb = 4Σa: Tr(Σa + 4Σa − 2·2Σa) = Tr(Σa).
    got = frechet_distance(GaussianStats(mu, cov, 0), GaussianStats(mu + 0.5, 4 * cov, 0))
    assert got == pytest.approx(16 * 0.25 + np.trace(cov), rel=1e-9)


def test_matches_direct_scipy_computation_on_embeddings():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((400, 24)) @ rng.standard_normal((24, 24))
    b = rng.standard_normal((300, 24)) * 1.5 + 0.3
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    direct = np.sum((mu_a - mu_b) ** 2) + np.trace(sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real)
    assert fad(a, b) == pytest.approx(direct, rel=1e-9)
    assert fad(a, b, method="eigh") == pytest.approx(direct, rel=1e-7)
    assert fad(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(direct, rel=1e-5)


def test_identical_sets_and_symmetry():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((200, 8)), rng.standard_normal((150, 8)) + 1
    assert abs(fad(a, a)) < 1e-8
    assert fad(a, b) == pytest.approx(fad(b, a), rel=1e-8)


def test_rank_deficient_covariances_stay_finite():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 32)), rng.standard_normal((6, 32))  # fewer frames than dimensions
    value = fad(a, b)
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(fad(a, b, method="eigh"), rel=1e-4)
    zero = np.zeros((4, 4))
    assert trace_sqrt_product(zero, zero) == 0.0


def test_weighted_stats_equal_explicit_repetition():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 3))
    w = np.array([0, 2, 1, 0, 3, 1, 1])
    explicit = embedding_stats(np.repeat(x, w, axis=0))
    weighted = weighted_stats(x, w)
    assert np.allclose(weighted.mu, explicit.mu) and np.allclose(weighted.cov, explicit.cov)


def test_invariance_to_clip_order():
    rng = np.random.default_rng(5)
    ref = [rng.standard_normal((10, 6)) for _ in range(12)]
    est = [rng.standard_normal((10, 6)) + 0.2 for _ in range(12)]
    order = rng.permutation(12)
    f1 = fad(np.concatenate(ref), np.concatenate(est))
    f2 = fad(np.concatenate([ref[i] for i in order]), np.concatenate([est[i] for i in order]))
    assert f1 == pytest.approx(f2, rel=1e-10)
    stats = embedding_stats(np.concatenate(ref))
    per = per_clip_fad(stats, est)
    per_perm = per_clip_fad(embedding_stats(np.concatenate([ref[i] for i in order])), [est[i] for i in order])
    assert np.allclose([per[i] for i in order], per_perm)


def test_fad_inf_removes_the_sample_size_bias():
    rng = np.random.default_rng(6)
    d = 8
    truth = GaussianStats(np.zeros(d), np.eye(d), 10**9)
    same = rng.standard_normal((4000, d))
    result = fad_inf(truth, same, steps=10, min_n=200, seed=0)
    biased = frechet_distance(truth, embedding_stats(same[:200]))
    assert abs(result.score) < 0.1 * biased
    assert result.slope > 0 and result.r2 > 0.5
    shifted = same + np.full(d, 0.5)  # true distance 8 · 0.25 = 2
    assert fad_inf(truth, shifted, steps=10, min_n=200, seed=0).score == pytest.approx(2.0, abs=0.1)
    again = fad_inf(truth, same, steps=10, min_n=200, seed=0)
    assert again.score == result.score and again.points == result.points


def test_fad_inf_needs_frames():
    with pytest.raises(ValueError):
        fad_inf(GaussianStats(np.zeros(2), np.eye(2), 0), np.zeros((3, 2)))


def test_bootstrap_fad_ci_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(7)
    ref = [rng.standard_normal((8, 4)) for _ in range(40)]
    est = [rng.standard_normal((8, 4)) * 1.3 + 0.4 for _ in range(40)]
    value = fad(np.concatenate(ref), np.concatenate(est))
    lo, hi = bootstrap_fad_ci(ref, est, n_boot=100, seed=1)
    assert lo < value < hi
    assert bootstrap_fad_ci(ref, est, n_boot=100, seed=1) == (lo, hi)
    assert bootstrap_fad_ci(ref[:1], est[:1], n_boot=10) is None


def test_bootstrap_mean_ci():
    x = np.random.default_rng(8).normal(3.0, 1.0, 400)
    lo, hi = bootstrap_mean_ci(x, n_boot=500, seed=0)
    assert lo < x.mean() < hi and hi - lo == pytest.approx(2 * 1.96 / 20, rel=0.25)
    assert bootstrap_mean_ci(np.array([1.0])) is None
