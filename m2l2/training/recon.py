"""Reconstruction probe for the training log: encode → decode a few fixed held-out clips and score them.

The consistency loss says little about audio quality, so stop criteria need a reconstruction metric:
SI-SDR (zero-mean, per channel, the suite's convention), the log-magnitude error in a few frequency
bands and the dynamics correlation (does the output rise and fall like the input), on the same clip excerpts and the same decoding noise at every evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from m2l2 import decoding, sisdr, spectral
from m2l2.consistency import split_chunks
from m2l2.errors import M2L2Error
from m2l2.spectral import SAMPLE_RATE

# Band edges (Hz) of the spectral error: bass, low-mid, presence, brilliance.
BANDS: tuple[tuple[float, float], ...] = ((0, 250), (250, 2000), (2000, 8000), (8000, SAMPLE_RATE / 2))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """SI-SDR in dB of [C, N] signals (m2l2.sisdr's convention), NaN for a silent reference: a float that
    averages into the probe's means."""
    value = sisdr.si_sdr(reference, estimate).value
    return float("nan") if value is None else value


def band_log_spectral_error(
    reference: np.ndarray, estimate: np.ndarray, bands: Sequence[tuple[float, float]] = BANDS
) -> list[float]:
    """Mean |log10 magnitude difference| × 20 (dB) per frequency band, STFT 2048 / hop 512."""
    n = min(reference.shape[-1], estimate.shape[-1])

    def mag(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(np.atleast_2d(x)[:, :n], dtype=np.float32))
        window = torch.hann_window(2048)
        return torch.stft(t, 2048, 512, window=window, return_complex=True).abs()

    diff = 20 * (torch.log10(mag(estimate) + 1e-5) - torch.log10(mag(reference) + 1e-5)).abs()
    freqs = torch.linspace(0, SAMPLE_RATE / 2, diff.shape[-2])
    return [float(diff[:, (freqs >= lo) & (freqs < hi)].mean()) for lo, hi in bands]


def band_log_power(x: np.ndarray, sample_rate: int = SAMPLE_RATE, bands: int = 48) -> np.ndarray:
    """log10 power [bands, frames] of a mono signal in `bands` log-spaced bands from 40 Hz to 8 kHz
    (STFT window 2048, hop 512), the representation of `dynamics_correlation`."""
    from scipy.signal import stft

    freqs, _, z = stft(np.asarray(x, dtype=np.float64), sample_rate, nperseg=2048, noverlap=2048 - 512)
    power = np.abs(z) ** 2
    edges = np.geomspace(40.0, 8000.0, bands + 1)
    rows = [power[(freqs >= lo) & (freqs < hi)].sum(0) for lo, hi in zip(edges[:-1], edges[1:])]
    return np.log10(np.stack(rows) + 1e-8)


def dynamics_correlation(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Does the estimate rise and fall like the reference? Pearson correlation of the two log-band-power
    matrices (mono mix, common length) after removing each band's time mean. Calibration on real music:
    an unrelated clip ≈ 0.0, the clip plus white noise at 0 dB SNR ≈ 0.45–0.75, identical 1.0."""
    n = min(reference.shape[-1], estimate.shape[-1])
    ref = np.atleast_2d(reference)[:, :n].mean(0)
    est = np.atleast_2d(estimate)[:, :n].mean(0)
    a, b = band_log_power(ref), band_log_power(est)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


@dataclass
class ReconstructionProbe:
    """Fixed excerpts of held-out clips; `evaluate(model)` returns the numbers logged to log.jsonl."""

    clips: list[np.ndarray]  # [C, N] at SAMPLE_RATE
    names: list[str]
    seed: int = 0

    @classmethod
    def from_folders(
        cls, folders: Sequence[str], count: int, seconds: float, channels: int, seed: int = 0
    ) -> ReconstructionProbe:
        """`count` clips spread evenly over the sorted files of `folders`, `seconds` from each clip's middle."""
        from m2l2.audio import convert_channels, load_audio
        from m2l2.training.data import list_audio_files

        files = sorted(f for folder in folders for f in list_audio_files(folder))
        if not files:
            raise M2L2Error(
                f"no audio files for the reconstruction probe ({', '.join(map(str, folders))}): add audio "
                "files there, or set train.recon_data (default: train.val_data) to folders that have some"
            )
        picks = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)]
        length = int(seconds * SAMPLE_RATE)
        clips = []
        for path in picks:
            audio, _ = load_audio(path, sample_rate=SAMPLE_RATE)
            audio = convert_channels(audio, channels)
            start = max((audio.shape[-1] - length) // 2, 0)
            clips.append(np.ascontiguousarray(audio[:, start : start + length], dtype=np.float32))
        return cls(clips, [p.name for p in picks], seed)

    @torch.no_grad()
    def evaluate(self, model) -> dict[str, float]:
        """Averaged over the clips: SI-SDR (dB), dynamics correlation, output/input RMS ratio and per-band
        log-spectral error (dB) of the default decoding (autoregressive, each previous chunk re-decoded at
        σ_cond; `recon_*`); the dynamics correlation and RMS ratio of one-step decoding (`recon_one_step_*`),
        and its dynamics correlation when the next clip's latents are decoded instead (`..._dyncorr_other`,
        the floor for latents that steer nothing); the consistency model's denoising error at σ = 10 and 80
        with each clip's own latents and with another clip's (`recon_err_own/other_sigma_*`; at σ = 80 an
        output of random phase errs alike with any latents, so equal errors there do not show unused latents)."""
        rows = []
        encoded = [model.encode(torch.from_numpy(clip)[None], SAMPLE_RATE) for clip in self.clips]
        for i, (clip, latents) in enumerate(zip(self.clips, encoded)):
            row = {}
            for name, redecode in (("recon", True), ("recon_one_step", False)):
                gen = torch.Generator().manual_seed(self.seed + i)
                out = model.decode(latents, length=clip.shape[-1], generator=gen, redecode_previous=redecode)
                out = out[0].float().cpu().numpy()
                row[f"{name}_dyncorr"] = dynamics_correlation(clip, out)
                row[f"{name}_rms_ratio"] = rms_ratio(clip, out)
                if redecode:
                    row["recon_si_sdr"] = si_sdr(clip, out)
                    row |= {f"recon_lsd_{int(lo)}_{int(hi)}": float(e)
                            for (lo, hi), e in zip(BANDS, band_log_spectral_error(clip, out))}
            if len(self.clips) > 1:
                row["recon_one_step_dyncorr_other"] = _other_latents_dyncorr(model, clip, encoded, i, self.seed)
            rows.append(row)
        means = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
        if len(self.clips) > 1 and all(c.shape[-1] >= model.train_samples for c in self.clips):
            means |= own_other_errors(model, [c[..., : model.train_samples] for c in self.clips], self.seed)
        return means


def _other_latents_dyncorr(model, clip: np.ndarray, encoded: list[torch.Tensor], i: int, seed: int) -> float:
    """Dynamics correlation with clip i of a one-step decoding of the next clip's latents, from the same noise
    seed: the floor that `recon_one_step_dyncorr` must rise above for the latents to steer the σ_max output.
    (An error at σ_max on the complex STFT cannot show this: an output of random phase has the same error with
    any latents of the same loudness.)"""
    other = encoded[(i + 1) % len(encoded)]
    gen = torch.Generator().manual_seed(seed + i)
    out = model.decode(other, length=clip.shape[-1], generator=gen, redecode_previous=False)
    return dynamics_correlation(clip, out[0].float().cpu().numpy())


def rms_ratio(reference: np.ndarray, estimate: np.ndarray) -> float:
    """RMS of the estimate over the reference's (a model that outputs a quiet mean scores far below 1)."""
    return float(np.sqrt(np.mean(estimate**2)) / max(np.sqrt(np.mean(reference**2)), 1e-12))


def own_other_errors(model, crops: list[np.ndarray], seed: int = 0, sigmas=(10.0, 80.0)) -> dict[str, float]:
    """`recon_err_{own,other}_sigma_S`: denoising error at σ = S with each crop's own cross-connections and
    with the next crop's (crops of exactly the training length)."""
    x = torch.cat([training_chunks(model, c) for c in crops])
    cross = model.decoder(model.encoder(x))
    other = torch.roll(torch.arange(len(x)), 2)  # the same chunk position of the next crop
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(model.device)
    out = {}
    for s in sigmas:
        out[f"recon_err_own_sigma_{s:g}"] = _denoise_error(model, x, noise, s, cross)
        out[f"recon_err_other_sigma_{s:g}"] = _denoise_error(model, x, noise, s, [c[other] for c in cross])
    return out


PROBE_SIGMAS = (0.01, 0.1, 0.5, 2.0, 10.0, 80.0)


def training_chunks(model, clip: np.ndarray) -> torch.Tensor:
    """The two chunks [2, 2C, F, frames] of a training crop [C, N], on the STFT grid training uses."""
    x = torch.from_numpy(clip)[None].float().to(model.device)
    return split_chunks(spectral.to_spec(x), model.config.chunk_frames)[0]


@torch.no_grad()
def denoise_errors(model, clip: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Relative error ‖f(x + σn, σ) − x‖ / ‖x‖ of the consistency model on the clip's first chunk (the first
    training length of a longer clip)."""
    chunk = training_chunks(model, clip[..., : model.train_samples])[:1]  # [1, 2C, F, frames]
    cross = model.decoder(model.encoder(chunk))
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(chunk.shape, generator=gen).to(model.device)
    return {f"denoise_err_sigma_{s:g}": _denoise_error(model, chunk, noise, s, cross) for s in PROBE_SIGMAS}


def _denoise_error(model, x: torch.Tensor, noise: torch.Tensor, sigma: float, cross: list[torch.Tensor]) -> float:
    """‖f(x + σ·noise, σ | cross) − x‖ / ‖x‖ over single chunks x [N, 2C, F, frames]."""
    sig = torch.full((len(x), 1), sigma, device=model.device)
    out = model.consistency((x + sigma * noise)[:, None], sig, cross)[:, 0]
    return float((out - x).norm() / x.norm())


def encode_as_trained(model, clip: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Latents of a training crop on the STFT grid it was trained on, and the part of the crop that
    `decode` returns for them. `encode` pads by LEFT_PAD samples (1.5 hops), which puts the frames
    elsewhere: a model that memorised one crop is only asked to reproduce what it saw."""
    latents = model.encoder(training_chunks(model, clip))[None]
    return latents, clip[:, spectral.LEFT_PAD :]


def estimate_scores(name: str, target: np.ndarray, est: np.ndarray) -> dict[str, float]:
    """`<name>_si_sdr`, `<name>_dyncorr` and `<name>_rms_ratio` (output/input RMS) of one decoded estimate."""
    return {f"{name}_si_sdr": si_sdr(target, est), f"{name}_dyncorr": dynamics_correlation(target, est),
            f"{name}_rms_ratio": rms_ratio(target, est)}


@torch.no_grad()
def memorisation_scores(model, clips: list[np.ndarray], seed: int = 0, aligned: bool = True) -> dict[str, float]:
    """Mean scores over clips [C, N]: one-step and two-step decoding, plus the denoising profile.
    `aligned`: on the training STFT grid (memorisation gates); otherwise through `encode` (any audio)."""
    model.eval()
    rows: list[dict[str, float]] = []
    for i, clip in enumerate(clips):
        if aligned:
            latents, target = encode_as_trained(model, clip)
        else:
            latents, target = model.encode(torch.from_numpy(clip)[None]), clip
        row: dict[str, float] = {}
        for name, redecode in (("one_step", False), ("two_step", True)):
            gen = torch.Generator().manual_seed(seed + i)
            out = model.decode(latents, length=target.shape[-1], generator=gen, redecode_previous=redecode)
            row |= estimate_scores(name, target, out[0].float().cpu().numpy())
        row |= denoise_errors(model, clip, seed + i)
        rows.append(row)
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def ode_decode(model, latents: torch.Tensor, steps: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """Latents [B, T, L, D] → audio with EDM's Euler ODE sampler (m2l2.decoding.ode_euler)."""
    return decoding.decode(model, latents, decoding.Decoding("ode", steps=steps), length, generator)


@torch.no_grad()
def ode_scores(model, clips: list[np.ndarray], steps: int = 32, seed: int = 0) -> dict[str, float]:
    """Mean SI-SDR, dynamics correlation and RMS ratio of `ode_decode` on training crops (their grid)."""
    model.eval()
    rows = []
    for i, clip in enumerate(clips):
        latents, target = encode_as_trained(model, clip)
        out = ode_decode(model, latents, steps, target.shape[-1], torch.Generator().manual_seed(seed + i))
        rows.append(estimate_scores(f"ode{steps}", target, out[0].float().cpu().numpy()))
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
