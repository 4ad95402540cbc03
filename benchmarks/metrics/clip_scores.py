"""Per-clip scorers: SI-SDR, ViSQOL and DAC's multi-scale mel / STFT distances. Each returns one value per
clip (None: skipped, with the reason) and the metric's summary: mean and bootstrap CI over clips."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.metrics.evaluation_types import (
    ClipPair,
    EvalConfig,
    MetricSummary,
    mean_summary,
    not_computed,
)
from benchmarks.metrics.sisdr import si_sdr
from benchmarks.metrics.sources import load_source
from benchmarks.metrics.spectral_distance import DAC_MEL, DAC_STFT, MultiScaleSpec, spectral_distance
from benchmarks.metrics.visqol import VisqolJob, visqol_many, visqol_unavailable
from m2l2.errors import M2L2Error

SPECTRAL_SPECS: dict[str, MultiScaleSpec] = {"mel-distance": DAC_MEL, "stft-distance": DAC_STFT}
SPECTRAL_RATE = 44100  # DAC reports mel-44k / stft-44k: both signals are compared at 44.1 kHz
Scores = tuple[list[float | None], MetricSummary]


def _valid(values: list[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None], dtype=np.float64)


def sisdr(metric: str, pairs: list[ClipPair], config: EvalConfig, progress: bool) -> Scores:
    """SI-SDR per clip; identical signals (+inf dB) count as `config.sisdr_ceiling_db` in the mean."""
    values: list[float | None] = []
    skipped: dict[str, str] = {}
    for pair in tqdm(pairs, desc="si-sdr", unit="clip", disable=not progress):
        ref, sr = load_source(pair.reference)
        est, _ = load_source(pair.estimate, sample_rate=sr)
        result = si_sdr(ref, est)
        values.append(result.value)
        if result.value is None:
            skipped[pair.clip] = result.skipped or "skipped"
    valid = _valid(values)
    clipped = np.minimum(valid, config.sisdr_ceiling_db)
    details = {
        "unit": "dB",
        "median": float(np.median(clipped)) if valid.size else None,
        "n_infinite": int(np.isposinf(valid).sum()),
        "ceiling_db": config.sisdr_ceiling_db,
        "convention": "zero-mean, float64, per channel on the common length, mean over channels",
    }
    return values, mean_summary("sisdr", clipped, config, skipped, "every reference is silent", details)


def visqol(metric: str, pairs: list[ClipPair], config: EvalConfig, progress: bool) -> Scores:
    """ViSQOL (audio mode, 48 kHz mono) per clip, on `config.visqol_workers` processes."""
    reason = visqol_unavailable()
    if reason is not None:
        return [None] * len(pairs), not_computed("visqol", reason)
    jobs = [VisqolJob(p.reference, p.estimate) for p in pairs]
    results = visqol_many(jobs, workers=config.visqol_workers, progress=progress)
    values = [r[0] for r in results]
    skipped = {p.clip: r[1] for p, r in zip(pairs, results) if r[0] is None and r[1]}
    import visqol as visqol_package

    details = {
        "unit": "MOS-LQO",
        "implementation": f"visqol-python {visqol_package.__version__}, audio mode, 48 kHz mono",
    }
    return values, mean_summary("visqol", _valid(values), config, skipped, "no clip could be scored", details)


def spectral(metric: str, pairs: list[ClipPair], config: EvalConfig, progress: bool) -> Scores:
    """DAC's multi-scale mel or STFT distance per clip at 44.1 kHz (see spectral_distance), mean and CI."""
    spec = SPECTRAL_SPECS[metric]
    values: list[float | None] = []
    skipped: dict[str, str] = {}
    for pair in tqdm(pairs, desc=metric, unit="clip", disable=not progress):
        ref, _ = load_source(pair.reference, sample_rate=SPECTRAL_RATE)
        est, _ = load_source(pair.estimate, sample_rate=SPECTRAL_RATE)
        try:
            values.append(spectral_distance(ref, est, SPECTRAL_RATE, spec).value)
        except M2L2Error as e:
            values.append(None)
            skipped[pair.clip] = str(e)
    details = spectral_details(metric)
    return values, mean_summary(metric, _valid(values), config, skipped, "every clip is too short", details)


def spectral_details(metric: str) -> dict[str, Any]:
    """The settings of a spectral distance, for the provenance of its numbers."""
    spec = SPECTRAL_SPECS[metric]
    return {
        "unit": "log10 magnitude (DAC loss units)",
        "sample_rate": SPECTRAL_RATE,
        "window_lengths": list(spec.window_lengths),
        "n_mels": list(spec.n_mels) if spec.n_mels else None,
        "hop": "window/4",
        "pow": spec.pow,
        "log_weight": spec.log_weight,
        "mag_weight": spec.mag_weight,
        "clamp_eps": spec.clamp_eps,
    }
