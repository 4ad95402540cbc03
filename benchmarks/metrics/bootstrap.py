"""Percentile bootstrap confidence intervals over clips, seeded so that tables are reproducible."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def require_paired(reference_clips: list, estimate_clips: list) -> None:
    """Set-level bootstraps resample (reference, estimate) clip pairs jointly: the lists must pair up."""
    if len(reference_clips) != len(estimate_clips):
        raise ValueError("reference and estimate clip lists must be paired")


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n] clip indices drawn with replacement from a seeded generator."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of bootstrap replicates."""
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(np.asarray(replicates, dtype=np.float64), [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """CI of the mean of per-clip values; None when fewer than two values exist."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or n_boot < 1:
        return None
    idx = resample_indices(x.size, n_boot, seed)
    return percentile_ci(x[idx].mean(axis=1), level)


def bootstrap_ci(
    n: int, statistic: Callable[[np.ndarray], float], n_boot: int, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """CI of any statistic of a clip set; `statistic` gets the resampled clip indices."""
    if n < 2 or n_boot < 1:
        return None
    reps = np.array([statistic(idx) for idx in resample_indices(n, n_boot, seed)])
    reps = reps[np.isfinite(reps)]
    return percentile_ci(reps, level) if reps.size else None
