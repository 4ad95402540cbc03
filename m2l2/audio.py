"""Audio I/O: decode to float32 [C, N] at a requested rate and channel count (soundfile, PyAV fallback; soxr)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from m2l2.errors import M2L2Error


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample [C, N] (or [N]) float audio with soxr's high-quality filter; a no-op when the rates match."""
    if sr_in == sr_out:
        return audio
    if audio.ndim == 1:
        return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(audio.dtype, copy=False)
    out = soxr.resample(np.ascontiguousarray(audio.T), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T).astype(audio.dtype, copy=False)


def convert_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """[C, N] → [channels, N]: mono by averaging, more channels by repeating mono."""
    if audio.shape[0] == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if audio.shape[0] == 1:
        return np.repeat(audio, channels, axis=0)
    raise M2L2Error(f"cannot convert {audio.shape[0]} channels to {channels}")


def _decode_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError as e:
        raise M2L2Error(
            f"cannot decode {path}: soundfile does not read this format and PyAV is not installed "
            "(pip install av)"
        ) from e
    try:
        return _pyav_read(av, path)
    except av.error.FFmpegError as e:
        raise M2L2Error(f"cannot decode {path}: not a readable audio file ({e})") from e


def _pyav_read(av, path: Path) -> tuple[np.ndarray, int]:
    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise M2L2Error(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout.name, rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise M2L2Error(f"{path} holds no audio")
    return np.concatenate(chunks, axis=1).astype(np.float32), int(rate)


def load_audio(
    path: str | Path, sample_rate: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, int]:
    """Read a file as float32 [C, N]; resample to `sample_rate` and convert to `channels` when given."""
    path = Path(path)
    if not path.is_file():
        raise M2L2Error(f"audio file not found: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        audio = np.ascontiguousarray(data.T)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        audio, rate = _decode_with_pyav(path)
    if channels is not None:
        audio = convert_channels(audio, channels)
    if sample_rate is not None and sample_rate != rate:
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return audio.astype(np.float32, copy=False), int(rate)


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write [C, N] or [N] float audio; the format follows the suffix (wav, flac, ogg). PCM-16 for wav."""
    from m2l2.io import atomic_path

    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    subtype = "PCM_16" if path.suffix.lower() in {".wav", ".flac"} else None
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(audio, -1, 1).T, sample_rate, subtype=subtype, format=path.suffix[1:].upper())
