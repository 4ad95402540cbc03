"""The page's media: short Opus excerpts and spectrogram images, small enough that the page stays light."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m2l2.audio import resample
from m2l2.io import atomic_path

OPUS_RATE = 48_000  # Opus runs at 48 kHz
EXCERPT_SECONDS = 5.0
N_FFT, HOP = 2048, 512
DB_RANGE = 80.0
MAX_HZ = 16_000  # the top of every spectrogram image
IMAGE_PX = (360, 162)  # width, height of a spectrogram image, axes included
DPI = 90
TICK_KHZ = 4  # frequency ticks every 4 kHz


def excerpt(audio: np.ndarray, sr: int, seconds: float = EXCERPT_SECONDS) -> np.ndarray:
    """The middle `seconds` of [C, N] audio (all of it when shorter)."""
    n = int(round(seconds * sr))
    start = max(0, (audio.shape[-1] - n) // 2)
    return audio[..., start : start + n]


def write_opus(path: Path, audio: np.ndarray, sr: int) -> Path:
    """[C, N] float audio → Ogg Opus at 48 kHz (libsndfile's default bitrate), written atomically."""
    import soundfile as sf

    x = resample(np.asarray(audio, np.float32), sr, OPUS_RATE)
    x = np.clip(x, -1.0, 1.0).T
    with atomic_path(path) as tmp:
        sf.write(tmp, x, OPUS_RATE, format="OGG", subtype="OPUS")
    return path


def log_spectrogram(audio: np.ndarray) -> np.ndarray:
    """[bins, frames] power in dB of the channel mean (Hann window, N_FFT / HOP)."""
    x = np.asarray(audio, np.float64).mean(axis=0)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    spec = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1)) ** 2
    return 10 * np.log10(spec.T + 1e-12)


def spectrogram_figure(db: np.ndarray, sr: int, seconds: float, top_db: float):
    """A small matplotlib figure of a `log_spectrogram` up to MAX_HZ, with its axes labelled (time in s,
    frequency in kHz) so that an image read alone says what it shows; colours span [top_db − 80, top_db] so
    that an original and its reconstruction, drawn with the original's top, compare by eye."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    max_bin = min(db.shape[0], int(MAX_HZ / (sr / N_FFT)))
    top_khz = max_bin * sr / N_FFT / 1000
    fig = plt.figure(figsize=(IMAGE_PX[0] / DPI, IMAGE_PX[1] / DPI), dpi=DPI)
    ax = fig.add_axes((0.1, 0.2, 0.88, 0.76))
    ax.imshow(
        db[:max_bin],
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=top_db - DB_RANGE,
        vmax=top_db,
        extent=(0, seconds, 0, top_khz),
    )
    _label_axes(ax, top_khz)
    return fig


def write_spectrogram(path: Path, db: np.ndarray, sr: int, seconds: float, top_db: float) -> Path:
    """`spectrogram_figure` as a PNG of IMAGE_PX pixels, written atomically."""
    import matplotlib.pyplot as plt

    fig = spectrogram_figure(db, sr, seconds, top_db)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _label_axes(ax, top_khz: float) -> None:
    """Small ticks and unit labels: frequency every TICK_KHZ kHz (16 kHz shown although the image ends a
    hair below it, at the last bin under MAX_HZ), time at matplotlib's ticks."""
    ax.tick_params(labelsize=7, length=2, pad=1)
    ax.set_yticks(np.arange(0, top_khz + 0.05, TICK_KHZ))
    ax.set_ylabel("frequency (kHz)", fontsize=7, labelpad=1)
    ax.set_xlabel("time (s)", fontsize=7, labelpad=0)
