"""Kernel Audio Distance (Chung et al., 2025, arXiv:2502.15602): unbiased MMD², Gaussian RBF kernel, ×100.

KAD = 100 · [ Σ_{i≠j} k(xᵢ,xⱼ)/(m(m−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(n(n−1)) − 2 Σ k(xᵢ,yⱼ)/(mn) ],
k(a, b) = exp(−‖a−b‖² / (2h²)), in float64. Unlike FAD it makes no Gaussian assumption and its estimator is
unbiased, so it does not drift with the number of embeddings; it can be slightly negative for sets drawn from
the same distribution, and is reported as is.

Bandwidth h: the median pairwise distance of the REFERENCE set. kadtk disagrees with itself here: its README
says reference ("so that the score takes on a consistent meaning even when the target set is changed"), and
YoonjinXD/kadtk@7ec65d7 `calc_kernel_audio_distance` calls `median_pairwise_distance(x)`
(x = reference, "on the reference set"), while the fork jake-drysdale/kadtk@1376c67 calls it on y (the
evaluated set). We take the reference because then every system is scored with the same kernel and the
scores of a table column are comparable; with the evaluated set's median each system would get its own
kernel (and a collapsed system, all embeddings equal, a zero bandwidth). We use np.median (mean of the two
middle values; torch.median in kadtk takes the lower one) and no ε in 1/(2h²) (kadtk adds 1e-8).

Memory: the kernel matrices are never formed; sums are accumulated over `block`×`block` tiles, so memory is
O(block² + clips²) whatever the number of frames (measured by tools/kad_memory.py). The sums are kept
per clip pair, which is all a bootstrap over clips needs: a resample is a vector of draw counts, and each
replicate is three quadratic forms in the clip count (see `kad_from_sums` for which pairs a replicate keeps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.spatial.distance

from benchmarks.metrics.bootstrap import bootstrap_ci, require_paired

SCALE = 100.0  # the KAD paper's and kadtk's SCALE_FACTOR
BLOCK = 1024  # tile side: three float64 tiles of 8 MiB each
MEDIAN_MAX_FRAMES = 4096  # the bandwidth's median is exact up to this many reference frames (8.4 M pairs)


def _frames(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name}: need [F>=2, D] embeddings, got {a.shape}")
    _require_finite(a, name)
    return a


def _require_finite(a: np.ndarray, name: str) -> None:
    """Non-finite embeddings would make every kernel value NaN: refuse them with the count."""
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: embeddings hold {int((~np.isfinite(a)).sum())} non-finite values")


def reference_bandwidth(reference: np.ndarray, max_frames: int = MEDIAN_MAX_FRAMES, seed: int = 0) -> float:
    """Median Euclidean distance over pairs i<j of the reference frames.

    Exact up to `max_frames` frames; beyond, it is the median over all pairs of a seeded random subset of
    `max_frames` frames (8.4 M pairs, so the bandwidth moves by well under 1 % — tested), which keeps
    memory bounded for 50k-frame references.
    """
    x = _frames(reference, "reference")
    if x.shape[0] > max_frames:
        x = x[np.random.default_rng(seed).choice(x.shape[0], size=max_frames, replace=False)]
    h = float(np.median(scipy.spatial.distance.pdist(x)))
    if not h > 0:
        raise ValueError(
            "reference embeddings are all identical, so the median-distance bandwidth is 0: pass `bandwidth`"
        )
    return h


@dataclass(frozen=True)
class KernelSums:
    """Gaussian-kernel sums per clip pair (self-pairs included, each = 1) and frames per clip: KAD's statistics."""

    xx: np.ndarray  # [Cx, Cx] reference × reference
    yy: np.ndarray  # [Cy, Cy] estimate × estimate
    xy: np.ndarray  # [Cx, Cy] reference × estimate
    nx: np.ndarray  # [Cx] frames per reference clip
    ny: np.ndarray  # [Cy]
    bandwidth: float


def _segments(owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and ids of the runs of equal (sorted) owner ids."""
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    return starts, owners[starts]


def _tile_sums(
    a: np.ndarray,
    b: np.ndarray,
    own_a: np.ndarray,
    own_b: np.ndarray,
    shape: tuple[int, int],
    gamma: float,
    block: int,
    symmetric: bool,
) -> np.ndarray:
    """Σ exp(−γ‖aᵢ−bⱼ‖²) per (clip of i, clip of j), tile by tile; `symmetric` (a is b) visits j ≥ i tiles only."""
    out = np.zeros(shape)
    sq_a, sq_b = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
    for i in range(0, a.shape[0], block):
        ra, rows = slice(i, i + block), _segments(own_a[i : i + block])
        for j in range(i if symmetric else 0, b.shape[0], block):
            rb, cols = slice(j, j + block), _segments(own_b[j : j + block])
            tile = a[ra] @ b[rb].T
            tile *= -2.0
            tile += sq_a[ra, None]
            tile += sq_b[None, rb]
            np.maximum(tile, 0.0, out=tile)  # rounding can leave tiny negatives
            if symmetric and i == j:
                np.fill_diagonal(tile, 0.0)  # exact self-distance, so each self-pair adds exactly 1
            tile *= -gamma
            np.exp(tile, out=tile)
            s = np.add.reduceat(np.add.reduceat(tile, rows[0], axis=0), cols[0], axis=1)
            out[np.ix_(rows[1], cols[1])] += s
            if symmetric and j != i:
                out[np.ix_(cols[1], rows[1])] += s.T
    return out


def _stack(clips: list[np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not clips:
        raise ValueError(f"{name}: no clips")
    arrays = [np.asarray(c, dtype=np.float64) for c in clips]
    if any(a.ndim != 2 for a in arrays):
        raise ValueError(f"{name}: every clip must be [F, D] embeddings")
    counts = np.array([len(c) for c in arrays])
    owners = np.repeat(np.arange(len(arrays)), counts)
    stacked = np.concatenate(arrays)
    _require_finite(stacked, name)
    return stacked, owners, counts


def kernel_sums(
    reference_clips: list[np.ndarray],
    estimate_clips: list[np.ndarray],
    bandwidth: float | None = None,
    block: int = BLOCK,
) -> KernelSums:
    """Kernel sums between two sets of clips ([F_i, D] frames each); bandwidth from the reference when None."""
    x, own_x, nx = _stack(reference_clips, "reference")
    y, own_y, ny = _stack(estimate_clips, "estimate")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"embedding sizes differ: {x.shape[1]} vs {y.shape[1]}")
    h = reference_bandwidth(x) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"bandwidth must be > 0, got {h}")
    gamma = 1.0 / (2.0 * h * h)
    cx, cy = len(nx), len(ny)
    return KernelSums(
        xx=_tile_sums(x, x, own_x, own_x, (cx, cx), gamma, block, symmetric=True),
        yy=_tile_sums(y, y, own_y, own_y, (cy, cy), gamma, block, symmetric=True),
        xy=_tile_sums(x, y, own_x, own_y, (cx, cy), gamma, block, symmetric=False),
        nx=nx,
        ny=ny,
        bandwidth=h,
    )


def _pair_mean(s: np.ndarray, na: np.ndarray, nb: np.ndarray, c: np.ndarray, same: bool) -> float:
    """Mean kernel over the pairs a U-statistic of the resample keeps (see `kad_from_sums`)."""
    d = np.diag(s)
    total = c @ s @ c - (c * c) @ d + c @ d
    pairs = (c @ na) * (c @ nb) - (c * c) @ (na * nb) + c @ (na * nb)
    if same:  # a frame is never paired with itself
        total, pairs = total - c @ na, pairs - c @ na
    return float(total / pairs) if pairs > 0 else float("nan")


def kad_from_sums(sums: KernelSums, counts: np.ndarray | None = None) -> float:
    """KAD (×100) of all clips, or of a paired resample in which clip pair i was drawn counts[i] times.

    A resample keeps the pairs of distinct frames within one draw and all pairs between draws of
    different clips, and drops pairs between two draws of the same clip. Keeping those (the plain
    concatenation) pairs frames with exact copies of themselves, which moves every replicate up by about
    one to two standard errors for close sets (measured on paired synthetic sets of 120 clips); with them
    dropped the replicates centre on the estimate. NaN when a set has no pair left.
    """
    if counts is None:
        m, n = float(sums.nx.sum()), float(sums.ny.sum())
        if m < 2 or n < 2:
            return float("nan")
        k_xx = (sums.xx.sum() - m) / (m * (m - 1.0))
        k_yy = (sums.yy.sum() - n) / (n * (n - 1.0))
        k_xy = sums.xy.sum() / (m * n)
        return SCALE * float(k_xx + k_yy - 2.0 * k_xy)
    if len(sums.nx) != len(sums.ny):
        raise ValueError("reference and estimate clip lists must be paired")
    c = np.asarray(counts, dtype=np.float64)
    nx, ny = sums.nx.astype(np.float64), sums.ny.astype(np.float64)
    k_xx = _pair_mean(sums.xx, nx, nx, c, same=True)
    k_yy = _pair_mean(sums.yy, ny, ny, c, same=True)
    k_xy = _pair_mean(sums.xy, nx, ny, c, same=False)
    return SCALE * (k_xx + k_yy - 2.0 * k_xy)


def kad(
    reference: np.ndarray, estimate: np.ndarray, bandwidth: float | None = None, block: int = BLOCK
) -> float:
    """KAD between two [F, D] embedding sets."""
    x, y = _frames(reference, "reference"), _frames(estimate, "estimate")
    return kad_from_sums(kernel_sums([x], [y], bandwidth, block))


def bootstrap_from_sums(
    sums: KernelSums, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile CI from paired clip resamples (the same counts for reference and estimate clip i).

    The bandwidth stays the one of the full reference set: the interval reflects which clips were drawn,
    not a changing kernel. Each replicate costs three quadratic forms in the clip count, so the default
    uses as many replicates as the per-clip means (FAD's 200 are for its matrix roots).
    """
    if len(sums.nx) != len(sums.ny):
        raise ValueError("reference and estimate clip lists must be paired")
    n = len(sums.nx)

    def statistic(idx: np.ndarray) -> float:
        return kad_from_sums(sums, np.bincount(idx, minlength=n))

    return bootstrap_ci(n, statistic, n_boot, seed, level)


@dataclass(frozen=True)
class KadResult:
    """KAD of a paired clip set with its CI and the bandwidth used (for the provenance)."""

    score: float
    ci: tuple[float, float] | None
    bandwidth: float
    n_reference_frames: int
    n_estimate_frames: int


def kad_with_ci(
    reference_clips: list[np.ndarray],
    estimate_clips: list[np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    bandwidth: float | None = None,
) -> KadResult:
    """KAD and its bootstrap CI from one pass over the frames (what a table row needs)."""
    require_paired(reference_clips, estimate_clips)
    sums = kernel_sums(reference_clips, estimate_clips, bandwidth)
    score = kad_from_sums(sums)
    if not np.isfinite(score):
        raise ValueError(f"KAD is not finite ({score})")
    return KadResult(
        score,
        bootstrap_from_sums(sums, n_boot, seed, level),
        sums.bandwidth,
        int(sums.nx.sum()),
        int(sums.ny.sum()),
    )
