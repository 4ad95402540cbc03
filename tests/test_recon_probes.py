"""The training probes (m2l2/training/recon.py) and the investigation's diagnostics (tools/diagnostics.py),
against cases with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from helpers_m2l2 import micro

from m2l2 import spectral
from m2l2.training.recon import encode_as_trained, ode_decode, si_sdr, training_chunks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from diagnostics import _crop_dyncorr, latent_use, magnitude_only_scores, polar_rep, rep_phase  # noqa: E402


def _crop(model, seed: int = 0) -> np.ndarray:
    """A training-length crop [1, N]: a decaying harmonic note whose pitch and onset depend on `seed`."""
    n = spectral.frames_to_samples(2 * model.config.chunk_frames)
    t = np.arange(n) / spectral.SAMPLE_RATE
    start, f0 = 0.05 + 0.1 * seed, 220.0 * 2 ** (seed / 12)
    env = np.where(t >= start, np.exp(-(t - start) * 6.0), 0.0)
    note = env * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.3 * note / np.abs(note).max()).astype(np.float32)[None]


@torch.no_grad()
def test_ode_decode_with_an_oracle_denoiser_returns_the_crop(monkeypatch):
    # Euler steps with D(x, σ) = x0 shrink x − x0 by σ'/σ per step: the sampler must end at the crop (up to
    # σ_min's noise), so a wrong grid, sign or chunk order fails.
    model = micro()
    clip = _crop(model)
    clean = training_chunks(model, clip)  # [2 chunks, 2C, F, frames]
    monkeypatch.setattr(model.consistency, "forward", lambda x, sigma, cross, last_only=False: clean[:, None])
    latents, target = encode_as_trained(model, clip)
    out = ode_decode(model, latents, 8, target.shape[-1], torch.Generator().manual_seed(0))[0].numpy()
    ola = spectral.StreamingOverlapAdd((1, 1), 2 * model.config.chunk_frames)
    # the clean chunks straight through the same inverse: what a perfect sampler returns
    head = [ola.add(spectral.from_rep(clean[t : t + 1]), t * model.config.chunk_frames) for t in range(2)]
    direct = spectral.unpad(torch.cat([*head, ola.finish()], dim=-1), target.shape[-1])[0].numpy()
    assert out.shape == target.shape == direct.shape
    assert si_sdr(direct, out) > 40.0
    assert si_sdr(target, out) > 10.0  # the crop itself, up to the inverse STFT's edges


@torch.no_grad()
def test_latent_use_reports_own_other_and_the_wiener_floor():
    model = micro(extra=("model.magnitude_head=true",))
    clips = [_crop(model, s) for s in range(3)]
    out = latent_use(model, clips)
    for s in ("0.5", "2", "10", "80"):
        assert {f"err_own_sigma_{s}", f"err_other_sigma_{s}", f"wiener_err_sigma_{s}"} <= out.keys()
    wiener = [out[f"wiener_err_sigma_{s}"] for s in ("0.5", "2", "10", "80")]
    assert 0 < wiener[0] < wiener[1] < wiener[2] < wiener[3] < 1.001  # more noise: less to recover
    known = [out[f"magnitude_wiener_err_sigma_{s}"] for s in ("0.5", "2", "10")]
    assert all(k < w for k, w in zip(known, wiener))  # knowing the magnitude per frame helps
    # untrained: F = 0, so the output is c_skip·x_σ, the same with any latents and worse than Wiener
    assert out["err_own_sigma_2"] == out["err_other_sigma_2"] > out["wiener_err_sigma_2"]
    assert {"latent_spread", "magnitude_err_own", "magnitude_err_other"} <= out.keys()


@torch.no_grad()
def test_magnitude_and_phase_rebuild_the_crop_and_random_phase_costs_dynamics():
    model = micro(extra=("model.magnitude_head=true",))
    clips = [_crop(model, s) for s in range(2)]
    x = training_chunks(model, clips[0])
    rebuilt = polar_rep(spectral.magnitude(x), rep_phase(x))
    assert torch.allclose(rebuilt, x, atol=1e-5)  # polar form round trip
    assert _crop_dyncorr(clips[0], x) > 0.999  # the crop's own chunks through the inverse STFT
    out = magnitude_only_scores(model, clips)
    assert set(out) == {f"{m}_{p}_dyncorr" for m in ("true_mag", "head_mag") for p in ("random_phase", "griffin_lim")} | {
        "head_mag_true_phase_dyncorr"}
    # the overlap-add of incoherent frames smears the envelope: the right magnitudes alone are not enough,
    # and a coherent phase (Griffin-Lim) gets part of it back
    assert out["true_mag_random_phase_dyncorr"] < 0.95
    assert out["true_mag_griffin_lim_dyncorr"] > out["true_mag_random_phase_dyncorr"]
    assert all(np.isfinite(v) for v in out.values())
