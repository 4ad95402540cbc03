"""Reconstruction probe for the training log: encode → decode a few fixed held-out clips and score them.

The consistency loss says little about audio quality, so stop criteria need a reconstruction metric:
SI-SDR (zero-mean, per channel, the suite's convention) and the log-magnitude error in a few frequency
bands, on the same clip excerpts and the same decoding noise at every evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from m2l2.errors import M2L2Error
from m2l2.spectral import SAMPLE_RATE

# Band edges (Hz) of the spectral error: bass, low-mid, presence, brilliance.
BANDS: tuple[tuple[float, float], ...] = ((0, 250), (250, 2000), (2000, 8000), (8000, SAMPLE_RATE / 2))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Zero-mean SI-SDR in dB of [C, N] signals, averaged over channels (silent channels skipped)."""
    n = min(reference.shape[-1], estimate.shape[-1])
    values = []
    for ref, est in zip(np.atleast_2d(reference)[:, :n], np.atleast_2d(estimate)[:, :n]):
        ref = ref.astype(np.float64) - ref.mean()
        est = est.astype(np.float64) - est.mean()
        energy = float(ref @ ref)
        if energy <= 1e-12:
            continue
        target = (est @ ref) / energy * ref
        residual = est - target
        values.append(10 * np.log10(max(float(target @ target), 1e-20) / max(float(residual @ residual), 1e-20)))
    return float(np.mean(values)) if values else float("nan")


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
            raise M2L2Error(f"reconstruction probe: no audio files in {', '.join(map(str, folders))}")
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
        """SI-SDR (dB) and per-band log-spectral error (dB) averaged over the clips, one-step decoding."""
        sdrs, errors = [], []
        for i, clip in enumerate(self.clips):
            latents = model.encode(torch.from_numpy(clip)[None], SAMPLE_RATE)
            gen = torch.Generator().manual_seed(self.seed + i)
            out = model.decode(latents, length=clip.shape[-1], generator=gen)[0].float().cpu().numpy()
            sdrs.append(si_sdr(clip, out))
            errors.append(band_log_spectral_error(clip, out))
        row = {"recon_si_sdr": float(np.nanmean(sdrs))}
        for (lo, hi), err in zip(BANDS, np.mean(errors, axis=0)):
            row[f"recon_lsd_{int(lo)}_{int(hi)}"] = float(err)
        return row
