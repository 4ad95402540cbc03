"""KAD against closed forms for Gaussians, an independent full-matrix NumPy/SciPy computation, and its bootstrap.

Closed form used below. For Z ~ N(δ, σ²I_d) and k(z) = exp(−‖z‖²/(2h²)), per coordinate
E exp(−z²/(2h²)) = ∫ N(z; δ, σ²) exp(−z²/(2h²)) dz = (h²/(h²+σ²))^{1/2} exp(−δ²/(2(h²+σ²))).
X, X' ~ N(μ1, s²I), Y ~ N(μ2, s²I) independent: X−X' ~ N(0, 2s²I), X−Y ~ N(Δ, 2s²I), Δ = μ1−μ2, so with
c = (h²/(h²+2s²))^{d/2}:  E k(X,X') = E k(Y,Y') = c,  E k(X,Y) = c·exp(−‖Δ‖²/(2(h²+2s²))) and
MMD² = 2c·(1 − exp(−‖Δ‖²/(2(h²+2s²)))). The estimator is unbiased, so the mean of independent estimates
converges to 100·MMD²; a biased (V-statistic) estimator would be off by ≈ 100·2(1−c)/n.
"""

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from benchmarks.metrics.kad import (
    SCALE,
    bootstrap_from_sums,
    kad,
    kad_from_sums,
    kad_with_ci,
    kernel_sums,
    reference_bandwidth,
)


def _direct_kad(x: np.ndarray, y: np.ndarray, h: float | None = None) -> float:
    """Straightforward reference: full kernel matrices, diagonal dropped, bandwidth = median pdist of x."""
    h = float(np.median(pdist(x))) if h is None else h
    kxx = np.exp(-cdist(x, x, "sqeuclidean") / (2 * h * h))
    kyy = np.exp(-cdist(y, y, "sqeuclidean") / (2 * h * h))
    kxy = np.exp(-cdist(x, y, "sqeuclidean") / (2 * h * h))
    m, n = len(x), len(y)
    return 100 * (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def _gaussian_mmd2(d: int, s: float, h: float, shift: float) -> float:
    c = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    return 2 * c * (1 - np.exp(-(shift**2) / (2 * (h * h + 2 * s * s))))


def test_matches_full_matrix_implementation_on_random_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)) @ rng.standard_normal((16, 16))
    y = rng.standard_normal((257, 16)) * 2.0 + 0.5
    expected = _direct_kad(x, y)
    assert kad(x, y) == pytest.approx(expected, rel=1e-10)
    assert kad(x.astype(np.float32), y.astype(np.float32)) == pytest.approx(expected, rel=1e-5)
    # the bandwidth follows the reference argument
    assert kad(y, x) == pytest.approx(_direct_kad(y, x), rel=1e-10)


@pytest.mark.parametrize("block", [1, 7, 64, 256, 10_000])
def test_blocked_equals_unblocked(block):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((230, 5)), rng.standard_normal((199, 5)) + 0.3
    one_tile = kad(x, y, block=10_000)
    assert kad(x, y, block=block) == pytest.approx(one_tile, rel=1e-11)
    assert one_tile == pytest.approx(_direct_kad(x, y), rel=1e-10)


def test_identical_sets_closed_form():
    # Same set on both sides: 100·[2S/(m(m−1)) − 2(S+m)/m²] = 100·(2/m)(k̄ − 1), k̄ the off-diagonal mean.
    rng = np.random.default_rng(2)
    a = rng.standard_normal((150, 6))
    h = float(np.median(pdist(a)))
    k = np.exp(-cdist(a, a, "sqeuclidean") / (2 * h * h))
    k_bar = (k.sum() - 150) / (150 * 149)
    got = kad(a, a)
    assert got == pytest.approx(100 * 2 / 150 * (k_bar - 1), rel=1e-10)
    assert -1.0 < got < 0  # slightly negative: reported as is


def test_same_distribution_is_zero_within_sampling_error():
    rng = np.random.default_rng(3)
    d, s, h, n = 4, 1.0, 2.0, 1000
    values = [
        kad(rng.standard_normal((n, d)) * s, rng.standard_normal((n, d)) * s, bandwidth=h) for _ in range(8)
    ]
    se = np.std(values, ddof=1) / np.sqrt(len(values))
    c = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    v_statistic_bias = SCALE * 2 * (1 - c) / n
    assert abs(np.mean(values)) < 4 * se
    assert v_statistic_bias > 4 * se  # a biased estimator would fail the line above


def test_gaussian_mean_shift_matches_analytic_mmd2():
    rng = np.random.default_rng(4)
    d, s, h, shift, n = 4, 1.0, 2.0, 1.0, 4000
    expected = SCALE * _gaussian_mmd2(d, s, h, shift)  # = 7.107
    mu = np.zeros(d)
    mu[0] = shift
    values = [
        kad(rng.standard_normal((n, d)) * s, rng.standard_normal((n, d)) * s + mu, bandwidth=h)
        for _ in range(3)
    ]
    se = np.std(values, ddof=1) / np.sqrt(len(values))
    assert expected == pytest.approx(7.107, abs=1e-3)
    assert se < 0.3
    assert np.mean(values) == pytest.approx(expected, abs=4 * se)
    # the variance of the differences (s² instead of 2s²) would give a clearly different value
    assert abs(SCALE * _gaussian_mmd2(d, s / np.sqrt(2), h, shift) - expected) > 10 * se


def test_bandwidth_is_the_reference_median_and_subset_is_close():
    rng = np.random.default_rng(5)
    ref, est = rng.standard_normal((400, 8)), rng.standard_normal((300, 8)) * 3
    sums = kernel_sums([ref], [est])
    assert sums.bandwidth == pytest.approx(np.median(pdist(ref)), rel=1e-12)
    assert kernel_sums([ref], [est * 10]).bandwidth == sums.bandwidth  # the estimate does not move the kernel
    big = rng.standard_normal((5000, 8)) @ rng.standard_normal((8, 8))
    exact = float(np.median(pdist(big)))
    approx = reference_bandwidth(big, max_frames=1000)
    assert approx != exact
    assert approx == pytest.approx(exact, rel=0.01)


def test_clip_sums_combine_to_the_set_statistic():
    rng = np.random.default_rng(6)
    ref = [rng.standard_normal((int(n), 4)) for n in rng.integers(1, 9, size=20)]
    est = [rng.standard_normal((int(n), 4)) + 0.2 for n in rng.integers(1, 9, size=20)]
    ref[3] = np.zeros((0, 4))  # a clip without frames contributes nothing
    sums = kernel_sums(ref, est, block=5)
    assert sums.xx.shape == (20, 20) and sums.xy.shape == (20, 20)
    assert np.allclose(sums.xx, sums.xx.T, rtol=1e-13)
    # clip i with itself: n_i self-pairs of exactly 1 plus n_i(n_i−1) kernels in (0, 1]
    diag = np.diag(sums.xx)
    assert np.all(diag >= sums.nx - 1e-12) and np.all(diag <= sums.nx**2 + 1e-12) and diag[3] == 0
    assert kad_from_sums(sums) == pytest.approx(
        _direct_kad(np.concatenate(ref), np.concatenate(est)), rel=1e-10
    )


def _direct_replicate(ref, est, idx, h):
    """Brute force over the frames of the drawn clips: pairs of distinct frames within a draw and all pairs
    between draws of different clips (pairs between two draws of the same clip are left out)."""
    x = np.concatenate([ref[i] for i in idx])
    y = np.concatenate([est[i] for i in idx])
    dx = np.concatenate([[d] * len(ref[i]) for d, i in enumerate(idx)])
    dy = np.concatenate([[d] * len(est[i]) for d, i in enumerate(idx)])
    cx, cy = np.asarray(idx)[dx], np.asarray(idx)[dy]

    def mean(a, b, da, db, ca, cb, same):
        k = np.exp(-cdist(a, b, "sqeuclidean") / (2 * h * h))
        keep = (da[:, None] == db[None]) | (ca[:, None] != cb[None])
        if same:
            np.fill_diagonal(keep, False)
        return k[keep].mean()

    return 100 * (
        mean(x, x, dx, dx, cx, cx, True)
        + mean(y, y, dy, dy, cy, cy, True)
        - 2 * mean(x, y, dx, dy, cx, cy, False)
    )


def test_bootstrap_replicate_matches_brute_force_over_resampled_frames():
    rng = np.random.default_rng(7)
    ref = [rng.standard_normal((int(n), 3)) for n in rng.integers(1, 7, size=12)]
    est = [rng.standard_normal((int(n), 3)) * 1.3 for n in rng.integers(1, 7, size=12)]
    sums = kernel_sums(ref, est)
    for idx in rng.integers(0, 12, size=(3, 12)):
        counts = np.bincount(idx, minlength=12)
        assert counts.max() > 1  # duplicates present: the case that matters
        expected = _direct_replicate(ref, est, idx, sums.bandwidth)
        assert kad_from_sums(sums, counts) == pytest.approx(expected, rel=1e-10)
    assert kad_from_sums(sums, np.ones(12)) == pytest.approx(kad_from_sums(sums), rel=1e-12)


def _paired_clips(rng, clips=120, frames=10, dim=32, noise=0.3):
    """Clips with correlated frames (a clip latent) and estimates = references + noise: a good codec."""
    ref = rng.standard_normal((clips, 1, dim)) + 0.7 * rng.standard_normal((clips, frames, dim))
    return list(ref), list(ref + noise * rng.standard_normal(ref.shape))


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    ref, est = _paired_clips(np.random.default_rng(8))
    result = kad_with_ci(ref, est, n_boot=300, seed=0)
    assert result.ci is not None
    lo, hi = result.ci
    # Paired near-identical sets: the estimate is negative. Replicates that paired frames with copies of
    # themselves sit above it (for this set their CI's centre is 0.46 widths above the estimate).
    assert result.score < 0
    assert lo < result.score < hi
    assert abs((lo + hi) / 2 - result.score) < 0.2 * (hi - lo)
    assert result.score == pytest.approx(kad(np.concatenate(ref), np.concatenate(est)), rel=1e-12)
    assert kad_with_ci(ref, est, n_boot=300, seed=0).ci == result.ci
    assert kad_with_ci(ref, est, n_boot=300, seed=1).ci != result.ci
    assert (result.n_reference_frames, result.n_estimate_frames) == (1200, 1200)
    assert bootstrap_from_sums(kernel_sums(ref[:1], est[:1]), n_boot=10) is None  # one clip: no interval


def test_errors_say_what_is_wrong():
    x = np.ones((10, 3))
    with pytest.raises(ValueError, match="identical"):
        kad(x, x + 1)
    with pytest.raises(ValueError, match="sizes differ"):
        kad(np.eye(4), np.eye(5))
    with pytest.raises(ValueError, match="paired"):
        kad_with_ci([np.eye(3)] * 2, [np.eye(3)] * 3)
    with pytest.raises(ValueError, match=r"\[F>=2, D\]"):
        kad(np.ones(5), np.ones(5))
