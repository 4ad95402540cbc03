"""Fréchet distance between Gaussian fits of embedding sets: FAD, per-clip FAD, FAD-∞ and bootstrap CIs.

FAD = ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa Σb)^½), in float64. The matrix square root follows the FID recipe
(scipy's sqrtm, real part, εI added when the result is not finite). FAD is biased by the number of
embeddings; FAD-∞ (Gui et al., 2024, as in fadtk) fits FAD against 1/n over subsets and keeps the intercept.

Non-finite input is refused before any matrix root (scipy's sqrtm iterates for minutes on a NaN matrix),
and a distance that comes out non-finite is an error, never a reported number: both raise
`NonFiniteError`, a ValueError the scorers turn into a "not computed" cell with the reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from benchmarks.metrics.bootstrap import bootstrap_ci, require_paired


class NonFiniteError(ValueError):
    """Embeddings, statistics or a distance holding NaN or Inf."""


def require_finite(x: np.ndarray, what: str) -> None:
    """Raise NonFiniteError naming `what` when `x` holds NaN or Inf."""
    finite = np.isfinite(x)
    if not finite.all():
        nan = int(np.isnan(x).sum())
        raise NonFiniteError(f"{what} hold non-finite values ({nan} NaN, {x.size - int(finite.sum()) - nan} Inf)")


@dataclass(frozen=True)
class GaussianStats:
    """Mean and covariance (ddof=1) of an embedding set and how many frames it came from."""

    mu: np.ndarray
    cov: np.ndarray
    n: int


def embedding_stats(frames: np.ndarray) -> GaussianStats:
    """Fit a Gaussian to [F, D] embeddings (F ≥ 2)."""
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need [F>=2, D] embeddings, got {x.shape}")
    require_finite(x, "embeddings")
    return GaussianStats(x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1]), x.shape[0])


def weighted_stats(frames: np.ndarray, weights: np.ndarray) -> GaussianStats:
    """Stats of a set where frame i appears `weights[i]` times (how a bootstrap resample is expressed)."""
    x = np.asarray(frames, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = float(w.sum())
    mu = w @ x / n
    xc = x - mu
    cov = (xc * w[:, None]).T @ xc / (n - 1.0)
    return GaussianStats(mu, cov, int(n))


def _sqrtm(m: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # Singular products are expected (per-clip covariances); non-finite results are handled by the caller.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        out = scipy.linalg.sqrtm(m)
    return out[0] if isinstance(out, tuple) else out


def psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance matrix (negative rounding-level eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(
    a: np.ndarray, b: np.ndarray, eps: float = 1e-6, method: str = "sqrtm", root_a: np.ndarray | None = None
) -> float:
    """Tr((A B)^½) for covariance matrices A, B.

    "sqrtm" is the FID recipe. "eigh" uses Tr((AB)^½) = Σ √λ(A^½ B A^½), which is exact for symmetric PSD
    matrices, stable for rank-deficient ones and several times faster; `root_a` reuses a precomputed A^½.
    """
    require_finite(a, "covariance A")
    require_finite(b, "covariance B")
    if method == "eigh":
        root_a = psd_sqrt(a) if root_a is None else root_a
        lam = np.linalg.eigvalsh(root_a @ b @ root_a)
        return float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    if method != "sqrtm":
        raise ValueError(f"unknown method {method!r}")
    covmean = _sqrtm(a @ b)
    if not np.isfinite(covmean).all():
        offset = np.eye(a.shape[0]) * eps
        covmean = _sqrtm((a + offset) @ (b + offset))
    return float(np.real(np.trace(covmean)))


def frechet_distance(
    a: GaussianStats,
    b: GaussianStats,
    eps: float = 1e-6,
    method: str = "sqrtm",
    root_a: np.ndarray | None = None,
) -> float:
    """Fréchet distance between two Gaussians; ≥ 0 up to rounding."""
    if a.mu.shape != b.mu.shape:
        raise ValueError(f"embedding sizes differ: {a.mu.shape} vs {b.mu.shape}")
    diff = a.mu - b.mu
    require_finite(diff, "means")
    tr = trace_sqrt_product(a.cov, b.cov, eps=eps, method=method, root_a=root_a)
    value = float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr)
    if not np.isfinite(value):
        raise NonFiniteError(f"the Fréchet distance is not finite ({value}): embeddings too large for float64")
    return value


def fad(reference: np.ndarray, estimate: np.ndarray, method: str = "sqrtm") -> float:
    """FAD between two [F, D] embedding sets."""
    return frechet_distance(embedding_stats(reference), embedding_stats(estimate), method=method)


def per_clip_fad(reference: GaussianStats, clips: list[np.ndarray]) -> list[float | None]:
    """Per-clip (per-song) FAD as in fadtk: each clip's own Gaussian against the whole reference set.

    With few frames per clip the clip covariance is rank-deficient, so values are only comparable between
    systems evaluated on the same clips and embedder; the eigenvalue form of the trace term is used, which
    stays exact for such matrices. Clips with fewer than two frames give None.
    """
    root = psd_sqrt(reference.cov)
    out: list[float | None] = []
    for c in clips:
        stats = embedding_stats(c) if len(c) >= 2 else None
        out.append(None if stats is None else frechet_distance(reference, stats, method="eigh", root_a=root))
    return out


@dataclass(frozen=True)
class FadInf:
    """Intercept of FAD against 1/n (the FAD at infinitely many embeddings), with the fit's slope and r²."""

    score: float
    slope: float
    r2: float
    points: list[tuple[int, float]]


def fad_inf(
    reference: GaussianStats, frames: np.ndarray, steps: int = 25, min_n: int = 500, seed: int = 0
) -> FadInf:
    """FAD-∞: FAD of `steps` random subsets of the estimate frames (sizes min_n … all), linear fit vs 1/n.

    Subsets are drawn without replacement from a seeded generator; min_n shrinks to half the frames when
    there are fewer than 2·min_n. The trace term uses the eigenvalue form (same value, faster).
    """
    x = np.asarray(frames, dtype=np.float64)
    total = x.shape[0]
    lo = min(min_n, total // 2)
    if lo < 2 or steps < 2:
        raise ValueError(f"FAD-inf needs at least 4 embedding frames, got {total}")
    rng = np.random.default_rng(seed)
    sizes = np.unique(np.linspace(lo, total, steps).astype(int))
    root = psd_sqrt(reference.cov)
    points = []
    for n in sizes:
        subset = embedding_stats(x[rng.choice(total, size=int(n), replace=False)])
        points.append((int(n), frechet_distance(reference, subset, method="eigh", root_a=root)))
    xs = 1.0 / np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points])
    slope, intercept = np.polyfit(xs, ys, 1)
    resid = ys - (slope * xs + intercept)
    ss_tot = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return FadInf(float(intercept), float(slope), r2, points)


def bootstrap_fad_ci(
    reference_clips: list[np.ndarray],
    estimate_clips: list[np.ndarray],
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile CI of the set FAD, resampling (reference, estimate) clip pairs jointly with replacement."""
    require_paired(reference_clips, estimate_clips)
    ref_x = np.concatenate(reference_clips).astype(np.float64)
    est_x = np.concatenate(estimate_clips).astype(np.float64)
    ref_owner = np.repeat(np.arange(len(reference_clips)), [len(c) for c in reference_clips])
    est_owner = np.repeat(np.arange(len(estimate_clips)), [len(c) for c in estimate_clips])

    def statistic(idx: np.ndarray) -> float:
        counts = np.bincount(idx, minlength=len(reference_clips))
        wr, we = counts[ref_owner], counts[est_owner]
        if wr.sum() < 2 or we.sum() < 2:
            return float("nan")
        return frechet_distance(weighted_stats(ref_x, wr), weighted_stats(est_x, we), method="eigh")

    return bootstrap_ci(len(reference_clips), statistic, n_boot, seed, level)
