"""Diagnostics of the training investigation (docs/training-investigation.md), outside the package: does the
consistency model use the latents (against linear-shrinkage floors), and how far magnitudes alone go on the
dynamics correlation. Used by tools/training_gates.py; not part of `m2l2 train`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from m2l2 import spectral
from m2l2.training.recon import PROBE_SIGMAS, _denoise_error, dynamics_correlation, training_chunks


@torch.no_grad()
def latent_use(model, clips: list[np.ndarray], seed: int = 0) -> dict[str, float]:
    """Does the consistency model use the latents? For training crops [C, N] (two or more of them): the
    latents' spread across crops, and per σ the denoising error with each crop's own cross-connections and
    with another crop's (`err_own` ≈ `err_other` means the latents are ignored at that σ); for models with a
    magnitude head, its relative error with own and with another crop's features; and the error of a per-bin
    Wiener shrinkage, the floor any trained denoiser should beat."""
    model.eval()
    x = torch.cat([training_chunks(model, c) for c in clips])  # [2·clips, 2C, F, frames]
    lat = model.encoder(x)
    cross = model.decoder(lat)
    other = torch.roll(torch.arange(len(x)), 2)  # the same chunk position of the next crop
    swapped = [c[other] for c in cross]
    out = {"latent_spread": float(lat.std(0).mean()), "latent_saturated": float((lat.abs() > 0.99).float().mean())}
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen).to(model.device)
    # references: the best per-bin linear shrinkage, knowing only each bin's power (a spectral-envelope prior,
    # no latents; a network that has learned anything from the data beats it), and the best linear
    # shrinkage that knows each bin's magnitude in each frame (what latents carrying the magnitude allow,
    # without phase): the head-room the latents open at each σ
    power = x.pow(2).mean(dim=(0, 3), keepdim=True)  # per channel and bin, over the crops
    mag = spectral.magnitude(x)
    local = mag.pow(2).repeat_interleave(2, 1)  # |c|² on both of its components
    for s in PROBE_SIGMAS[2:]:
        for name, feats in (("own", cross), ("other", swapped)):
            out[f"err_{name}_sigma_{s:g}"] = _denoise_error(model, x, noise, s, feats)
        noisy = x + s * noise
        wiener = noisy * power / (power + s * s)
        out[f"wiener_err_sigma_{s:g}"] = float((wiener - x).norm() / x.norm())
        known = noisy * local / (local + 2 * s * s)  # random phase: E[re²] = |c|² / 2
        out[f"magnitude_wiener_err_sigma_{s:g}"] = float((known - x).norm() / x.norm())
    if model.decoder.magnitude_head is not None:
        for name, feats in (("own", cross), ("other", swapped)):
            out[f"magnitude_err_{name}"] = float((model.decoder.magnitude(feats) - mag).norm() / mag.norm())
    return out


def polar_rep(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Magnitude and phase [N, C, F, T] → representation [N, 2C, F, T] (real and imaginary part per channel)."""
    n, c, f, t = magnitude.shape
    return torch.stack([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=2).reshape(n, 2 * c, f, t)


def rep_phase(rep: torch.Tensor) -> torch.Tensor:
    """Representation [N, 2C, F, T] → its phase per channel [N, C, F, T]."""
    n, c2, f, t = rep.shape
    pair = rep.reshape(n, c2 // 2, 2, f, t)
    return torch.atan2(pair[:, :, 1], pair[:, :, 0])


def _crop_wave(chunks: torch.Tensor, griffin_lim: int = 0) -> torch.Tensor:
    """Waveform [C, N] of a training crop's chunks [2, 2C, F, frames], clamped as `decode` clamps; with
    `griffin_lim` > 0 the phase is first replaced by that many Griffin-Lim iterations from the given one."""
    spec = spectral.from_rep(torch.cat(list(chunks.float().cpu()), dim=-1)[None])  # [1, C, F, frames]
    magnitude = spec.abs()
    for _ in range(griffin_lim):
        spec = torch.polar(magnitude, torch.angle(spectral.stft(spectral.istft(spec))))
    return spectral.istft(spec).clamp(-1.0, 1.0)[0]


def _crop_dyncorr(clip: np.ndarray, chunks: torch.Tensor, griffin_lim: int = 0) -> float:
    """Dynamics correlation of a training crop [C, N] with the waveform of its chunks [2, 2C, F, frames]."""
    return dynamics_correlation(clip, _crop_wave(chunks, griffin_lim).numpy())


@torch.no_grad()
def magnitude_only_scores(model, clips: list[np.ndarray], seed: int = 0, griffin_lim: int = 32) -> dict[str, float]:
    """How far magnitudes alone go on the dynamics correlation of training crops [C, N] (their grid).

    `true_mag_random_phase`: the clip's own magnitudes with a random phase per bin, the ceiling of any output
    whose phase is unrelated to the clip's (the overlap-add of incoherent frames smears the envelope);
    `true_mag_griffin_lim`: the same magnitudes with a coherent phase found by Griffin-Lim from the random
    one, what a generative decoder's phase can add. With a magnitude head, the same for the head's magnitude
    (what the latents carry) and `head_mag_true_phase`. A diagnostic: Griffin-Lim is not part of the model."""
    model.eval()
    rows: dict[str, list[float]] = {}
    for i, clip in enumerate(clips):
        x = training_chunks(model, clip)
        mag, phase = spectral.magnitude(x), rep_phase(x)
        random = (torch.rand(mag.shape, generator=torch.Generator().manual_seed(seed + i)) * 2 * math.pi).to(mag.device)
        magnitudes = {"true_mag": mag}
        if model.decoder.magnitude_head is not None:
            magnitudes["head_mag"] = model.decoder.magnitude(model.decoder(model.encoder(x))).clamp_min(0.0)
            rows.setdefault("head_mag_true_phase_dyncorr", []).append(
                _crop_dyncorr(clip, polar_rep(magnitudes["head_mag"], phase)))
        for name, m in magnitudes.items():
            chunks = polar_rep(m, random)
            rows.setdefault(f"{name}_random_phase_dyncorr", []).append(_crop_dyncorr(clip, chunks))
            if griffin_lim:
                rows.setdefault(f"{name}_griffin_lim_dyncorr", []).append(_crop_dyncorr(clip, chunks, griffin_lim))
    return {k: float(np.nanmean(v)) for k, v in rows.items()}
