"""Paired comparisons of set metrics (FAD, KAD): the difference metric(A) − metric(B) against one reference
set, with a bootstrap interval that resamples clips jointly for the reference, A and B.

A resample draws clip i c_i times; every frame of clip i then has weight c_i in the reference, in A and in
B alike (the clips are paired). Nothing is embedded again: a resample is a reweighting of the cached
per-clip embedding frames.

FAD: the weighted mean and covariance of each set come from per-clip sums and scatter matrices
(counts @ [Σx, Σxxᵀ]), one matrix product for a block of resamples; the trace term Tr((Σ_r Σ_s)^½) uses
the eigenvalue form Σ√λ(Rᵀ Σ_s R) with Σ_r = R Rᵀ (a Cholesky factor; the exact form of
`frechet.trace_sqrt_product(method="eigh")`, one symmetric eigenvalue problem per set), or, when a set
has fewer frames than dimensions (CLAP: one frame per clip), the nuclear norm of Y_r Y_sᵀ with
Σ = YᵀY, which is the same number from a much smaller matrix. The frames are centred on the reference
mean first (FAD does not change under a common shift) to keep the sums well conditioned.

KAD: the kernel sums per clip pair (`kad.kernel_sums`, bandwidth of the full reference set for both
systems) give each resample's KAD as three quadratic forms (`kad.kad_from_sums`).

Reported: the full-set difference, the percentile interval of the resampled differences, the share of
resamples whose difference has the opposite sign ("sign flips") and the bootstrap p-value
min(1, 2(k + 1)/(B + 1)) with k sign flips out of B resamples (a resample counts as a flip when its
difference has the other sign or is 0, so two identical systems get p = 1).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.metrics.bootstrap import percentile_ci, resample_indices
from benchmarks.metrics.kad import kad_from_sums, kernel_sums
from benchmarks.metrics.paired import Comparison, not_computed

SCATTER_BYTES = 512 * 2**20  # per-clip scatter matrices are precomputed up to this size, else per resample
BLOCK_BYTES = 256 * 2**20  # memory of one block of resampled covariance matrices


@dataclass
class ClipMoments:
    """Per-clip frame counts, sums and (optionally) scatter matrices of one set's embeddings."""

    frames: list[np.ndarray]  # [F_i, D] per clip, centred
    counts: np.ndarray  # [C]
    sums: np.ndarray  # [C, D]
    scatter: np.ndarray | None  # [C, D·D], or None when too large (computed per resample)


def _moments(clips: list[np.ndarray], shift: np.ndarray, keep_scatter: bool) -> ClipMoments:
    frames = [np.asarray(c, dtype=np.float64) - shift for c in clips]
    counts = np.array([len(f) for f in frames], dtype=np.float64)
    sums = np.stack([f.sum(axis=0) for f in frames])
    scatter = np.stack([(f.T @ f).ravel() for f in frames]) if keep_scatter else None
    return ClipMoments(frames, counts, sums, scatter)


def _covariances(m: ClipMoments, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(means [b, D], covariances [b, D, D] with ddof 1, frame totals [b]) of the sets weighted by w [b, C]."""
    total = w @ m.counts
    mu = (w @ m.sums) / total[:, None]
    d = mu.shape[1]
    if m.scatter is not None:
        second = (w @ m.scatter).reshape(-1, d, d)
    else:  # too many clips to keep every scatter matrix: rebuild them a bounded chunk at a time
        second = np.zeros((len(w), d * d))
        step = max(1, int(SCATTER_BYTES // (8 * d * d * 4)))
        for start in range(0, len(m.frames), step):
            chunk = np.stack([(f.T @ f).ravel() for f in m.frames[start : start + step]])
            second += w[:, start : start + step] @ chunk
        second = second.reshape(-1, d, d)
    cov = (second - total[:, None, None] * mu[:, :, None] * mu[:, None, :]) / (total - 1.0)[:, None, None]
    return mu, cov, total


def _factors(cov: np.ndarray) -> np.ndarray:
    """R with Σ = R Rᵀ for a stack of covariance matrices: Cholesky factors, or the symmetric PSD roots when
    a matrix is singular (fewer frames than dimensions). Tr((Σ_r Σ_s)^½) = Σ√λ(Rᵀ Σ_s R) either way."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        lam, vec = np.linalg.eigh(cov)
        return (vec * np.sqrt(np.clip(lam, 0.0, None))[:, None, :]) @ np.swapaxes(vec, 1, 2)


def _trace_sqrt(factor_r: np.ndarray, cov_s: np.ndarray) -> np.ndarray:
    lam = np.linalg.eigvalsh(np.swapaxes(factor_r, 1, 2) @ cov_s @ factor_r)
    return np.sqrt(np.clip(lam, 0.0, None)).sum(axis=1)


def _fad_block(ref: ClipMoments, a: ClipMoments, b: ClipMoments, w: np.ndarray) -> np.ndarray:
    """FAD(A) − FAD(B) [b] for a block of clip weights w [b, C] (covariance form)."""
    mu_r, cov_r, _ = _covariances(ref, w)
    factor = _factors(cov_r)
    out = np.zeros(len(w))
    for sign, m in ((1.0, a), (-1.0, b)):
        mu, cov, _ = _covariances(m, w)
        diff = mu_r - mu
        tr = np.trace(cov_r, axis1=1, axis2=2) + np.trace(cov, axis1=1, axis2=2)
        out += sign * ((diff * diff).sum(axis=1) + tr - 2.0 * _trace_sqrt(factor, cov))
    return out


def _factor(m: ClipMoments, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], Y [F, D]) with covariance YᵀY for one weight vector w [C] (frames of weight 0 dropped)."""
    fw = np.repeat(w, m.counts.astype(int))
    keep = fw > 0
    x, fw = np.concatenate(m.frames)[keep], fw[keep]
    total = fw.sum()
    mu = fw @ x / total
    return mu, (x - mu) * np.sqrt(fw / (total - 1.0))[:, None]


def _fad_low_rank(ref: ClipMoments, a: ClipMoments, b: ClipMoments, w: np.ndarray) -> np.ndarray:
    """FAD(A) − FAD(B) [b] through Tr((Σ_r Σ_s)^½) = ‖Y_r Y_sᵀ‖_* (sets with fewer frames than dimensions)."""
    out = np.zeros(len(w))
    for k, row in enumerate(w):
        mu_r, y_r = _factor(ref, row)
        for sign, m in ((1.0, a), (-1.0, b)):
            mu, y = _factor(m, row)
            nuclear = np.linalg.svd(y_r @ y.T, compute_uv=False).sum()
            diff = mu_r - mu
            out[k] += sign * (diff @ diff + (y_r * y_r).sum() + (y * y).sum() - 2.0 * nuclear)
    return out


def fad_difference_replicates(
    reference: list[np.ndarray], a: list[np.ndarray], b: list[np.ndarray], weights: np.ndarray
) -> np.ndarray:
    """FAD(A) − FAD(B) for each row of clip weights [R, C] (a row of ones: the full sets)."""
    shift = np.concatenate(reference).astype(np.float64).mean(axis=0)
    dim = shift.size
    frames = max(sum(len(c) for c in s) for s in (reference, a, b))
    low_rank = frames <= dim
    keep = not low_rank and len(reference) * dim * dim * 8 <= SCATTER_BYTES
    ref_m, a_m, b_m = (_moments(s, shift, keep) for s in (reference, a, b))
    if low_rank:
        return _fad_low_rank(ref_m, a_m, b_m, weights)
    block = max(1, int(BLOCK_BYTES // (8 * dim * dim * 4)))
    return np.concatenate(
        [_fad_block(ref_m, a_m, b_m, weights[i : i + block]) for i in range(0, len(weights), block)]
    )


def kad_difference_replicates(
    reference: list[np.ndarray], a: list[np.ndarray], b: list[np.ndarray], weights: np.ndarray
) -> np.ndarray:
    """KAD(A) − KAD(B) for each row of clip weights [R, C], both with the full reference set's bandwidth."""
    sums_a = kernel_sums(reference, a)
    sums_b = kernel_sums(reference, b, bandwidth=sums_a.bandwidth)
    full = np.all(weights == 1.0, axis=1)
    return np.array(
        [
            kad_from_sums(sums_a, None if f else w) - kad_from_sums(sums_b, None if f else w)
            for w, f in zip(weights, full)
        ]
    )


def _one_blas_thread() -> Any:
    """Small (D ≤ ~1000) factorisations run fastest on one BLAS thread; with several threads on a busy
    machine a 200×200 Cholesky was measured 10 to 300 times slower (threads waiting on each other)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it the BLAS keeps its own setting
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _check(reference: list[np.ndarray], a: list[np.ndarray], b: list[np.ndarray]) -> str | None:
    if not (len(reference) == len(a) == len(b)):
        return f"clip counts differ (reference {len(reference)}, A {len(a)}, B {len(b)}): sets must be paired"
    if len(reference) < 2:
        return "fewer than two clips"
    dims = {np.asarray(c).shape[1] for s in (reference, a, b) for c in s if np.asarray(c).ndim == 2}
    if len(dims) != 1:
        return f"embedding sizes differ: {sorted(dims)}"
    if any(sum(len(c) for c in s) < 2 for s in (reference, a, b)):
        return "fewer than two embedding frames in a set"
    return None


def set_difference(
    metric: str,
    reference: list[np.ndarray],
    a: list[np.ndarray],
    b: list[np.ndarray],
    labels: tuple[str, str] = ("A", "B"),
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Comparison:
    """metric(A) − metric(B) ("fad-…" or "kad-…") over paired clip lists ([F_i, D] frames each), with the
    joint clip bootstrap described in the module docstring."""
    problem = _check(reference, a, b)
    if problem is not None:
        return not_computed(metric, "set", problem, *labels)
    started = time.perf_counter()
    replicates = kad_difference_replicates if metric.startswith("kad-") else fad_difference_replicates
    n = len(reference)
    counts = np.ones((1, n))
    if n_boot > 0:
        idx = resample_indices(n, n_boot, seed)
        counts = np.concatenate([counts, np.stack([np.bincount(r, minlength=n) for r in idx])])
    with _one_blas_thread():
        diffs = replicates(reference, a, b, counts.astype(np.float64))
    observed, reps = float(diffs[0]), diffs[1:]
    reps = reps[np.isfinite(reps)]
    flips = int((reps * observed <= 0.0).sum())  # opposite sign, or no difference either way
    frames = tuple(int(sum(len(c) for c in s)) for s in (reference, a, b))
    return Comparison(
        metric,
        "set",
        *labels,
        difference=observed,
        ci=percentile_ci(reps, level) if reps.size else None,
        level=level,
        p_value=min(1.0, 2.0 * (flips + 1) / (reps.size + 1)) if reps.size else None,
        test="joint clip bootstrap of the set metric, p = min(1, 2(k+1)/(B+1)) with k sign flips",
        resamples=int(reps.size),
        n_clips=n,
        frames=frames,  # type: ignore[arg-type]
        sign_flip_share=flips / reps.size if reps.size else None,
        shift=float(reps.mean() - observed) if reps.size else None,
        seconds=time.perf_counter() - started,
    )
