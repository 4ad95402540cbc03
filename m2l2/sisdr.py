"""Scale-invariant signal-to-distortion ratio (Le Roux et al., 2019), in the convention the papers use.

Zero-mean, float64, per channel after cropping both signals to a common length, then averaged over channels.
Other toolkits differ (torchmetrics defaults to zero_mean=False; some flatten channels or return −SI-SDR), so
the convention is fixed here and tested against closed-form cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from m2l2.errors import M2L2Error

# A zero-mean reference whose mean power is below this (−120 dBFS) is treated as silent and skipped.
SILENCE_POWER = 1e-12


@dataclass(frozen=True)
class SisdrResult:
    """SI-SDR of one clip: `value` is None when every reference channel is silent (then `skipped` says why)."""

    value: (
        float | None
    )  # dB, averaged over non-silent channels; +inf when the estimate is an exact scaled copy
    per_channel: tuple[float | None, ...]
    skipped: str | None = None


def as_channels(audio: np.ndarray) -> np.ndarray:
    """[N] or [C, N] → float64 [C, N]."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise M2L2Error(
            f"expected audio shaped [N] or [C, N], got {x.shape} (audio argument): pass that shape"
        )
    return x


def sisdr_channel(reference: np.ndarray, estimate: np.ndarray) -> float | None:
    """SI-SDR in dB of two equally long 1-D signals; None for a silent reference, +inf for a perfect estimate."""
    ref = reference - reference.mean()
    est = estimate - estimate.mean()
    ref_energy = float(ref @ ref)
    if ref_energy <= SILENCE_POWER * ref.size:
        return None
    alpha = float(est @ ref) / ref_energy
    target = alpha * ref
    noise = est - target
    target_energy = float(target @ target)
    noise_energy = float(noise @ noise)
    if noise_energy == 0.0:
        return math.inf
    if target_energy == 0.0:
        return -math.inf
    return 10.0 * math.log10(target_energy / noise_energy)


def match_channels(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal channel counts; when one side is mono the other is down-mixed (averaged) to mono."""
    if reference.shape[0] == estimate.shape[0]:
        return reference, estimate
    if reference.shape[0] == 1 or estimate.shape[0] == 1:
        return reference.mean(axis=0, keepdims=True), estimate.mean(axis=0, keepdims=True)
    raise M2L2Error(
        f"channel mismatch, reference has {reference.shape[0]} and estimate {estimate.shape[0]} "
        "(reference and estimate): give both the same number of channels, or one of them mono"
    )


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> SisdrResult:
    """SI-SDR of one clip ([N] or [C, N]); both signals are cropped to the shorter length."""
    ref, est = match_channels(as_channels(reference), as_channels(estimate))
    n = min(ref.shape[1], est.shape[1])
    if n < 2:
        raise M2L2Error(
            f"SI-SDR needs at least 2 common samples, got {n} (reference and estimate): use longer clips"
        )
    per_channel = tuple(sisdr_channel(r[:n], e[:n]) for r, e in zip(ref, est))
    valid = [v for v in per_channel if v is not None]
    if not valid:
        return SisdrResult(None, per_channel, skipped="silent reference")
    return SisdrResult(float(np.mean(valid)), per_channel)
