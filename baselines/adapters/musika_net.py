"""Musika's four autoencoder networks (Pasini & Schlüter, ISMIR 2022) ported to PyTorch, and its spectrogram
in and out. The layer layout follows the public marcoppasini/musika code so that its Keras weights map onto
these modules one to one (musika_weights.py reads them); the adapter is musika.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FRAMES_PER_LATENT = 16  # enc2 turns 16 STFT frames into one latent vector
LATENTS_PER_DEC2 = 4  # dec2 decodes groups of 4 latents (64 frames)


@dataclass(frozen=True)
class MusikaConfig:
    """Musika's defaults (its parse scripts); every width derives from `hop` and `latdepth`."""

    sample_rate: int = 44100
    hop: int = 256  # STFT hop; window and FFT size are 4 * hop
    latdepth: int = 64  # values per latent vector (per channel)
    mu_rescale: float = -25.0  # dB spectrogram normalisation: (dB - mu) / sigma
    sigma_rescale: float = 75.0

    @property
    def n_fft(self) -> int:
        return 4 * self.hop

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def edge(self) -> int:
        """Samples beyond the last full hop that the un-centred STFT needs (3 * hop)."""
        return self.n_fft - self.hop

    @property
    def samples_per_latent(self) -> int:
        return FRAMES_PER_LATENT * self.hop


# --- layers ----------------------------------------------------------------------------------------


def _same_pad(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (the extra sample goes on the right)."""
    out = -(-n // stride)
    total = max((out - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


class ConvBlock(nn.Module):
    """Musika's `conv_util` over time ([B, C, T]; the Keras height axis is always 1): conv, optional noise, swish."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "same",
                 transpose: bool = False, noise: bool = False, act: bool = True):
        super().__init__()
        self.kernel, self.stride, self.padding, self.transpose, self.act = kernel, stride, padding, transpose, act
        conv = nn.ConvTranspose1d if transpose else nn.Conv1d
        self.conv = conv(cin, cout, kernel, stride=stride)
        self.noise_weight = nn.Parameter(torch.zeros(1)) if noise else None  # Keras AddNoise starts at 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        if self.transpose:  # Keras 'same' transposed conv: output n * stride, cropped like TensorFlow
            y = self.conv(x)
            left = max(self.kernel - self.stride, 0) // 2
            y = y[..., left : left + n * self.stride]
        else:
            if self.padding == "same":
                x = F.pad(x, _same_pad(n, self.kernel, self.stride))
            y = self.conv(x)
        if self.noise_weight is not None:  # one N(0, 1) value per time step, shared by all channels
            y = y + self.noise_weight * torch.randn(y.shape[0], 1, y.shape[-1], dtype=y.dtype, device=y.device)
        return F.silu(y) if self.act else y


class KerasMapped(nn.Module):
    """A network whose `keras_slots` says which module takes which Keras layer, by type in creation order."""

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        raise NotImplementedError


class Encoder(KerasMapped):
    """Musika `ENC`: a per-frame MLP from a normalised dB spectrogram [B, bins, T] to [B, latdepth', T] (tanh)."""

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h, width = cfg.hop, 4 * cfg.hop
        self.blocks = nn.ModuleList(
            [ConvBlock(cfg.bins if i == 0 else width, width, 1, padding="valid") for i in range(5)]
        )
        self.out = ConvBlock(width, h // 4, 1, padding="valid", act=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = spec
        for b in self.blocks:
            x = b(x)
        return torch.tanh(self.out(x))

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {"conv2d": [*self.blocks, self.out]}


class Encoder2(KerasMapped):
    """Musika `ENC2`: 16 frames of `Encoder` output [B, hop/4, 16] -> one latent vector [B, latdepth, 1] (tanh)."""

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h = cfg.hop
        spec = [(h // 4, h, 3, 1, "same"), (h, 3 * h // 2, 3, 2, "valid"), (3 * h // 2, 3 * h // 2, 3, 1, "same"),
                (3 * h // 2, 2 * h, 3, 2, "valid"), (2 * h, 2 * h, 3, 1, "same"), (2 * h, 3 * h, 3, 1, "valid"),
                (3 * h, 3 * h, 1, 1, "valid")]
        self.blocks = nn.ModuleList([ConvBlock(i, o, k, s, p) for i, o, k, s, p in spec])
        self.bottle = ConvBlock(3 * h, cfg.latdepth, 1, padding="valid", act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return torch.tanh(self.bottle(x))

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {"conv2d": list(self.blocks), "cbottle": [self.bottle]}


class Decoder2(KerasMapped):
    """Musika `DEC2`: 4 latent vectors [B, latdepth, 4] -> 64 frames of `Encoder` output [B, hop/4, 64]."""

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h = cfg.hop
        spec = [(cfg.latdepth, 3 * h, 3, 1, False), (3 * h, 5 * h // 2, 4, 2, True), (5 * h // 2, 5 * h // 2, 3, 1, False),
                (5 * h // 2, 2 * h, 4, 2, True), (2 * h, 2 * h, 3, 1, False), (2 * h, 3 * h // 2, 4, 2, True),
                (3 * h // 2, h, 4, 2, True)]
        self.blocks = nn.ModuleList([ConvBlock(i, o, k, s, transpose=t, noise=True) for i, o, k, s, t in spec])
        self.out = ConvBlock(h, h // 4, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.out(x)

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {
            "conv2d": [b for b in self.blocks if not b.transpose],
            "conv2d_transpose": [b for b in self.blocks if b.transpose],
            "add_noise": list(self.blocks),
            "cout": [self.out],
        }


class Decoder(KerasMapped):
    """Musika `DEC`: 64 frames [B, hop/4, 64] -> (log-magnitude, phase / pi), each [B, bins, 64] in [-1, 1].

    A U-Net with a magnitude head and a phase head sharing the encoder path (Musika's graph also builds a
    fourth down-block and an up-block that feed no output; Keras drops those, and so does this port).
    """

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h = cfg.hop
        self.down = nn.ModuleList([ConvBlock(i, o, 3, s, noise=True) for i, o, s in
                                   [(h // 4, 3 * h, 1), (3 * h, 3 * h, 2), (3 * h, 2 * h, 2), (2 * h, h, 2)]])
        self.up = nn.ModuleList([ConvBlock(i, o, 4, 2, transpose=True, noise=True) for i, o in
                                 [(h, 2 * h), (2 * h, 3 * h), (3 * h, 3 * h)]])
        self.mag = ConvBlock(3 * h, cfg.bins, 1, act=False)
        self.phase_up = nn.ModuleList([ConvBlock(i, o, 4, 2, transpose=True, noise=True) for i, o in
                                       [(2 * h, 3 * h), (3 * h, 3 * h)]])
        self.phase = ConvBlock(3 * h, cfg.bins, 1, act=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g0 = self.down[0](x)
        g1 = self.down[1](g0)
        g2 = self.down[2](g1)
        g3 = self.down[3](g2)
        g22 = self.up[0](g3)
        g11 = self.up[1](g22 + g2)
        g00 = self.up[2](g11 + g1)
        mag = torch.clamp(self.mag(g00 + g0), -1.0, 1.0)
        p = self.phase_up[0](g22)
        p = self.phase_up[1](p + g11)
        phase = torch.clamp(self.phase(p + g00), -1.0, 1.0)
        return mag, phase

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {
            "conv2d": [*self.down, self.mag, self.phase],
            "conv2d_transpose": [*self.up, *self.phase_up],
            "add_noise": [*self.down, *self.up, *self.phase_up],
        }


NETWORKS: dict[str, Callable[[MusikaConfig], KerasMapped]] = {
    "enc": Encoder, "enc2": Encoder2, "dec": Decoder, "dec2": Decoder2,
}


# --- spectrogram in and out ------------------------------------------------------------------------


def spectrogram(x: torch.Tensor, cfg: MusikaConfig) -> torch.Tensor:
    """[B, N] waveform -> normalised dB power spectrogram [B, bins, frames] (frames = 1 + (N - n_fft) // hop)."""
    window = torch.hann_window(cfg.n_fft, periodic=True, dtype=x.dtype, device=x.device)
    frames = x.unfold(-1, cfg.n_fft, cfg.hop) * window
    power = torch.fft.rfft(frames, n=cfg.n_fft).abs() ** 2
    db = 10.0 * torch.log10(torch.clamp(power, min=1e-10))
    return ((db - cfg.mu_rescale) / cfg.sigma_rescale).transpose(-1, -2)


def waveform(mag: torch.Tensor, phase: torch.Tensor, cfg: MusikaConfig) -> torch.Tensor:
    """Decoded (normalised dB magnitude, phase / pi) [B, bins, frames] -> [B, (frames - 1) * hop + n_fft] by
    inverse STFT with the window that inverts the forward Hann at this hop (TensorFlow's inverse_stft rule)."""
    amp = torch.sqrt(10.0 ** ((mag * cfg.sigma_rescale + cfg.mu_rescale) / 10.0) + 1e-7)
    spec = torch.polar(amp, phase * math.pi).transpose(-1, -2)  # [B, frames, bins]
    frames = torch.fft.irfft(spec, n=cfg.n_fft)
    window = torch.hann_window(cfg.n_fft, periodic=True, dtype=frames.dtype, device=frames.device)
    denom = (window**2).reshape(-1, cfg.hop).sum(0).repeat(cfg.n_fft // cfg.hop)
    frames = frames * (window / denom)
    n_frames = frames.shape[-2]
    length = (n_frames - 1) * cfg.hop + cfg.n_fft
    return F.fold(frames.transpose(-1, -2), (1, length), (1, cfg.n_fft), stride=(1, cfg.hop)).reshape(-1, length)
