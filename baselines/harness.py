"""Resampling, channel conversion and length alignment around an adapter, so adapters stay short."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import numpy as np

from baselines.interface import Autoencoder
from m2l2.audio import convert_channels, resample
from m2l2.errors import M2L2Error

ChannelMode = Literal["downmix", "per-channel"]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run a block with torch's and numpy's global generators seeded, restoring them afterwards."""
    if seed is None:
        yield
        return
    np_state = np.random.get_state()
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        torch = None
    try:
        if torch is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        np.random.set_state(np_state)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to exactly `length` samples."""
    n = audio.shape[-1]
    if n == length:
        return audio
    if n > length:
        return audio[..., :length]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - n)]
    return np.pad(audio, pad)


def as_2d(audio: np.ndarray) -> np.ndarray:
    """[N] or [C, N] → float32 [C, N]."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio[None]
    if audio.ndim != 2:
        raise M2L2Error(f"audio of shape {audio.shape} (audio argument): pass [N] or [C, N] samples")
    return audio


def to_native(ae: Autoencoder, audio: np.ndarray, sr: int) -> np.ndarray:
    """[C, N] at `sr` → [ae.channels, N'] at ae.sample_rate."""
    x = convert_channels(as_2d(audio), ae.channels)
    return np.ascontiguousarray(resample(x, int(sr), int(ae.sample_rate)), dtype=np.float32)


def from_native(ae: Autoencoder, audio: np.ndarray, sr: int, channels: int, length: int) -> np.ndarray:
    """[ae.channels, M] at ae.sample_rate → [channels, length] at `sr`."""
    y = resample(np.asarray(audio, dtype=np.float32), int(ae.sample_rate), int(sr))
    return fit_length(convert_channels(y, channels), length).astype(np.float32, copy=False)


def _roundtrip(ae: Autoencoder, native: np.ndarray) -> np.ndarray:
    latent = ae.encode(native)
    out = np.asarray(ae.decode(latent, length=native.shape[-1]), dtype=np.float32)
    if out.ndim == 1:
        out = out[None]
    if out.shape[0] != ae.channels:
        raise M2L2Error(
            f"decode returned {out.shape[0]} channels, expected {ae.channels} ({ae.name}): make the "
            "adapter's decode return its declared channel count"
        )
    return fit_length(out, native.shape[-1])


def reconstruct(
    ae: Autoencoder, audio: np.ndarray, sr: int, channel_mode: ChannelMode = "downmix"
) -> np.ndarray:
    """Encode and decode `audio` ([N] or [C, N] at `sr`); returns the reconstruction with the same shape and rate.

    A mono autoencoder given multi-channel input either codes the downmix (`downmix`, the default: one
    latent per clip, the compression it reports) or each channel on its own (`per-channel`, as
    Music2Latent's own API does; this doubles the latent size of stereo input).
    """
    x = as_2d(audio)
    squeeze = np.asarray(audio).ndim == 1
    channels, length = x.shape
    if channel_mode == "per-channel" and ae.channels == 1 and channels > 1:
        outs = [_roundtrip(ae, to_native(ae, x[c : c + 1], sr)) for c in range(channels)]
        y = np.concatenate([from_native(ae, o, sr, 1, length) for o in outs], axis=0)
    elif channel_mode in ("downmix", "per-channel"):
        y = from_native(ae, _roundtrip(ae, to_native(ae, x, sr)), sr, channels, length)
    else:
        raise M2L2Error(
            f"unknown channel_mode {channel_mode!r} (channel_mode): use 'downmix' or 'per-channel'"
        )
    return y[0] if squeeze else y


def embed(ae: Autoencoder, audio: np.ndarray, sr: int) -> np.ndarray:
    """Clip-level feature vector through the adapter's `embed`, after the same input conversion."""
    if not ae.has_embed:
        raise M2L2Error(f"no embedding for probing ({ae.name}): choose an autoencoder that provides one")
    return np.asarray(ae.embed(to_native(ae, audio, sr)), dtype=np.float32).reshape(-1)
