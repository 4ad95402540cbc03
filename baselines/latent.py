"""Latent rate and compression ratio measured from the latent tensors an adapter actually returns.

An adapter encodes silence of two lengths, `a` and `b` whole units (its hop, chunk or chunk stride), and
counts frames, values and bits of each latent; the differences give frames per second, values per frame
and bits per value with no edge effect from padding. `layout` formulas (computed from the library's config,
for `m2l2 baselines list`, which builds nothing) are checked against these measurements by the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from baselines.interface import PCM_BITS


@dataclass(frozen=True)
class LatentSize:
    """What one latent holds: frames along its time axis, values in all, bits in all."""

    frames: float
    values: float
    bits: float
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class LatentLayout:
    """Frames per second, values per frame, bits per value, and the latent's shape written with T frames."""

    frame_rate: float
    values_per_frame: float
    bits_per_value: float
    shape: str

    def bitrate(self) -> float:
        return self.frame_rate * self.values_per_frame * self.bits_per_value

    def ratio(self, sample_rate: float, channels: int) -> float:
        """16-bit PCM bits per second over latent bits per second (the convention of baselines.interface)."""
        return sample_rate * channels * PCM_BITS / self.bitrate()

    def describe(self, sample_rate: float, channels: int) -> str:
        bits = "" if self.bits_per_value == PCM_BITS else f", {self.bits_per_value:.3g} bit/value"
        return (f"{self.shape} at {self.frame_rate:.4g} Hz{bits} = {self.bitrate() / 1000:.4g} kbit/s, "
                f"{self.ratio(sample_rate, channels):.4g}x")


def tensor_size(latent: Any, time_axis: int = -1, bits_per_value: float = PCM_BITS) -> LatentSize:
    """Size of one array-like latent whose frames run along `time_axis`."""
    shape = tuple(int(s) for s in latent.shape)
    values = float(np.prod(shape)) if shape else 1.0
    return LatentSize(frames=float(shape[time_axis]), values=values, bits=values * bits_per_value, shape=shape)


def measure(encode: Callable[[np.ndarray], Any], size: Callable[[Any], LatentSize], channels: int,
            sample_rate: float, unit: int, units: tuple[int, int] = (2, 3),
            shape: Callable[[tuple[int, ...]], str] | None = None) -> LatentLayout:
    """Encode silence of `units` x `unit` samples and derive the layout from the latents' differences."""
    a, b = units
    first = size(encode(np.zeros((channels, a * unit), np.float32)))
    second = size(encode(np.zeros((channels, b * unit), np.float32)))
    frames = second.frames - first.frames
    values = second.values - first.values
    if frames <= 0 or values <= 0:
        raise ValueError(f"latent does not grow with the input ({first} → {second}); cannot measure its rate")
    seconds = (b - a) * unit / sample_rate
    text = shape(second.shape) if shape else str(list(second.shape))
    return LatentLayout(frame_rate=frames / seconds, values_per_frame=values / frames,
                        bits_per_value=(second.bits - first.bits) / values, shape=text)


def shape_with_t(shape: tuple[int, ...], time_axis: int = -1) -> str:
    """[9, 172] → '[9, T]': the time axis written symbolically."""
    parts = [str(s) for s in shape]
    parts[time_axis] = "T"
    return "[" + ", ".join(parts) + "]"
