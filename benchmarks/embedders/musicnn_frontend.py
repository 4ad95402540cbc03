"""MusiCNN's input pipeline (musicnn 0.1.0's `configuration` / `extractor.batch_data`) in NumPy.

Mono 16 kHz, |STFT|^2 with n_fft 512, hop 256, periodic Hann, centred frames with zero padding, 96 Slaney-scale
mel bands, a float16 cast, log10(10000 x + 1), non-overlapping patches of 187 frames (3 s); see
`benchmarks.embedders.musicnn` for the one deliberate departure (float16 overflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrontendConfig:
    """Signal-processing constants of musicnn 0.1.0 (configuration.py and extractor.py)."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 256
    n_mels: int = 96
    patch_frames: int = 187  # librosa.time_to_frames(3 s) + 1, as in extractor()
    log_scale: float = 10000.0  # log10(log_scale * mel + 1)
    pad_mode: str = "constant"  # librosa >= 0.10 default for centred STFT frames ("reflect" before)


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    mel = f / f_sp
    log_region = f >= min_log_hz
    return np.where(
        log_region, min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mel
    )


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int = 16000, n_fft: int = 512, n_mels: int = 96) -> np.ndarray:
    """[n_mels, n_fft//2+1] Slaney-scale triangles with Slaney area norm (librosa.filters.mel defaults), float32.

    Weights are computed in float64 and stored as float32, as librosa does.
    """
    fft_freqs = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sr / 2), n_mels + 2)
    hz_pts = _mel_to_hz_slaney(mel_pts)
    widths = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_power(audio: np.ndarray, cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """[frames, n_mels] mel power spectrogram in float32 (librosa.feature.melspectrogram with defaults)."""
    y = np.asarray(audio, dtype=np.float32)
    pad = cfg.n_fft // 2
    y = np.pad(y, pad, mode=cfg.pad_mode)
    n_frames = 1 + (y.size - cfg.n_fft) // cfg.hop
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, cfg.n_fft), strides=(y.strides[0] * cfg.hop, y.strides[0]), writeable=False
    )
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)).astype(np.float32)
    spec = np.fft.rfft(frames * window, axis=1)
    power = (spec.real.astype(np.float32) ** 2 + spec.imag.astype(np.float32) ** 2).astype(np.float32)
    return power @ mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels).T


def log_compress(mel: np.ndarray, scale: float = 10000.0) -> np.ndarray:
    """float16 log10(scale*x+1) with the package's float16 roundings; overflowing bins computed in float64."""
    x16 = np.asarray(mel).astype(np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.log10(np.float16(scale) * x16 + np.float16(1))
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = np.log10(scale * x16[bad].astype(np.float64) + 1.0).astype(np.float16)
    return out


def logmel_patches(
    audio: np.ndarray, cfg: FrontendConfig = FrontendConfig(), hop_frames: int | None = None
) -> np.ndarray:
    """[patches, patch_frames, n_mels] float16 log-mel patches, as musicnn.extractor.batch_data cuts them."""
    rep = log_compress(mel_power(audio, cfg), cfg.log_scale)
    n = cfg.patch_frames
    if rep.shape[0] < n:  # repeat-pad short clips (training config pad_short: repeat-pad)
        rep = np.tile(rep, (int(np.ceil(n / rep.shape[0])), 1))[:n]
    hop = hop_frames or n
    starts = range(0, rep.shape[0] - n + 1, hop)
    return np.stack([rep[s : s + n] for s in starts])
