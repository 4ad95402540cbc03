"""Audio I/O: the one reader every entry point uses (soundfile, PyAV fallback; soxr), and the writer.

The reader checks what it decoded, so a corrupt, empty or NaN-holding file is an `AudioError` naming the
file and the reason (CLI: one line, exit 2; batch work: a recorded skip) and never silently scored.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
    """[C, N] → [channels, N]: mono is the average of the channels, other counts repeat that mono.

    Averaging is the only down-mix that needs no channel layout; for more than two channels it loses the
    spatial image, so `load_audio` warns when it does that to a file.
    """
    if audio.shape[0] == channels:
        return audio
    mono = audio if audio.shape[0] == 1 else audio.mean(axis=0, keepdims=True)
    return mono if channels == 1 else np.repeat(mono, channels, axis=0)


# What to do about a file that is no usable audio, unless the raise says something more precise.
CHECK_THE_FILE = "check or replace the file"


class AudioError(M2L2Error):
    """A file that cannot be used as audio. `path` and `reason` let batch work record it as a skip; `fix`
    (what the user can do) ends the one-line message `cannot use the file as audio, <reason> (<path>): <fix>`,
    the convention of every user-facing error."""

    def __init__(self, path: str | Path, reason: str, message: str | None = None, fix: str = CHECK_THE_FILE
                 ) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(message or f"cannot use the file as audio, {reason} ({path}): {fix}")


class AudioWarning(UserWarning):
    """A usable file whose result is degraded (e.g. many channels averaged to mono)."""


@dataclass(frozen=True)
class AudioInfo:
    frames: int
    sample_rate: int
    channels: int


def audio_info(path: str | Path) -> AudioInfo | None:
    """Header of a file soundfile reads (and can seek in); None for other formats (decoded by PyAV)."""
    try:
        i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    return AudioInfo(int(i.frames), int(i.samplerate), int(i.channels))


def _unreadable(path: Path, detail: str) -> AudioError:
    detail = " ".join(str(detail).replace(f": '{path}'", "").split())[:200]
    return AudioError(path, f"unreadable: not audio that soundfile or FFmpeg can decode ({detail})")


def _decode_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError as e:
        raise AudioError(
            path,
            "unreadable: soundfile does not read this format and PyAV is not installed (pip install av)",
            fix="install PyAV (pip install av), or convert the file to WAV or FLAC",
        ) from e
    try:
        return _pyav_read(av, path)
    except (av.error.FFmpegError, ValueError) as e:
        raise _unreadable(path, e) from e


def _pyav_read(av, path: Path) -> tuple[np.ndarray, int]:
    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioError(path, "unreadable: no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context.channels == 0:
            raise AudioError(path, "zero channels (a corrupt file, or not audio)")
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout.name, rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise AudioError(path, "empty: no samples")
    return np.concatenate(chunks, axis=1).astype(np.float32), int(rate)


def _check(path: Path, audio: np.ndarray) -> None:
    """The checks every read passes: at least one channel and one sample, every sample finite."""
    if audio.ndim != 2 or audio.shape[0] == 0:
        raise AudioError(path, "zero channels")
    if audio.shape[1] == 0:
        raise AudioError(path, "empty: no samples")
    finite = np.isfinite(audio)
    if not finite.all():
        nan = int(np.isnan(audio).sum())
        inf = audio.size - int(finite.sum()) - nan
        raise AudioError(
            path, f"non-finite samples ({nan} NaN, {inf} Inf of {audio.size})",
            fix="replace the file, or write it again without NaN or Inf samples",
        )


def _warn_downmix(path: Path, have: int, target: int | None) -> None:
    """Warn when more than two channels are averaged into fewer: the spatial image is lost."""
    if target is not None and have > max(target, 2):
        to = "mono" if target == 1 else f"mono, copied to {target} channels"
        warnings.warn(f"{path}: {have} channels averaged to {to} (the spatial image is lost)", AudioWarning,
                      stacklevel=3)


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    channels: int | None = None,
    *,
    max_channels: int | None = None,
    start: int = 0,
    frames: int | None = None,
) -> tuple[np.ndarray, int]:
    """THE audio reader: a file as checked float32 [C, N], or an `AudioError` naming the file and why.

    `start`/`frames` select native-rate frames (soundfile seeks; PyAV decodes the whole file). Then the
    audio is converted to `channels` (or down-mixed to at most `max_channels`) and resampled to
    `sample_rate`. Zero channels, no samples and NaN/Inf samples are errors; averaging more than two
    channels into fewer is allowed with an `AudioWarning`.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found", f"audio file not found ({path}): check the path")
    try:
        data, rate = sf.read(
            str(path), start=start, frames=-1 if frames is None else frames, dtype="float32", always_2d=True
        )
        audio = np.ascontiguousarray(data.T)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        audio, rate = _decode_with_pyav(path)
        audio = audio[:, start : None if frames is None else start + frames]
    _check(path, audio)
    _warn_downmix(path, audio.shape[0], channels if channels is not None else max_channels)
    if channels is not None:
        audio = convert_channels(audio, channels)
    elif max_channels is not None and audio.shape[0] > max_channels:
        audio = convert_channels(audio, max_channels)
    if sample_rate is not None and sample_rate != rate:
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return audio.astype(np.float32, copy=False), int(rate)


def read_blocks(path: str | Path, channels: int, block: int = 1 << 18) -> tuple[Iterator[np.ndarray], int, int]:
    """A file as float32 [channels, n] blocks of `block` frames, its sample rate and its frame count, without
    holding it whole: what streaming encoders read (`m2l2 encode`, `m2l2 reconstruct`). Formats soundfile
    cannot read are decoded whole by PyAV and then split. Every block passes `load_audio`'s checks; the file's
    are made before the first block, a block's when it is read (a NaN late in a file stops the work there)."""
    path = Path(path)
    info = audio_info(path) if path.is_file() else None
    if info is None or info.frames == 0:  # not found, not soundfile's, or empty: load_audio says which
        audio, rate = load_audio(path, channels=channels)
        return (audio[:, i : i + block] for i in range(0, audio.shape[1], block)), rate, audio.shape[1]
    _warn_downmix(path, info.channels, channels)

    def blocks() -> Iterator[np.ndarray]:
        for data in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            audio = np.ascontiguousarray(data.T)
            _check(path, audio)
            yield convert_channels(audio, channels)

    return blocks(), info.sample_rate, info.frames


def audio_problem(path: str | Path) -> str | None:
    """Why `path` cannot be used as audio (the `AudioError` reason), or None when it reads and is finite."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AudioWarning)
            load_audio(path)
    except AudioError as e:
        return e.reason
    return None


def audio_file_problem(path: str | Path, like: str | Path | None = None) -> str | None:
    """Why `path` is not a complete, finite audio file shaped like the file `like` (same frames, channels
    and rate), or None. Checks a cached output written before checksums were recorded."""
    problem = audio_problem(path)
    if problem is not None or like is None:
        return problem
    want, got = audio_info(like), audio_info(path)
    if want is None or got is None:
        return None
    if got != want:
        return (
            f"{got.frames} frames x {got.channels} channels at {got.sample_rate} Hz, "
            f"expected {want.frames} x {want.channels} at {want.sample_rate} Hz"
        )
    return None


# What `save_audio` writes: suffix → soundfile format.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF"}
WRITABLE_SUFFIXES = tuple(WRITE_FORMATS)


def check_output_suffix(path: str | Path) -> None:
    """Refuse an output file `save_audio` cannot write, before any long work is done."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise M2L2Error(
            f"unknown output extension {suffix or '(none)'!r} ({path}): use one of "
            f"{', '.join(WRITABLE_SUFFIXES)}"
        )


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write [C, N] or [N] float audio atomically; the format follows the suffix (`WRITE_FORMATS`), PCM-16
    for wav, flac and aiff. An unknown suffix is refused before anything is written."""
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[None] if audio.ndim == 1 else audio
    write_blocks(path, [audio], sample_rate, audio.shape[0])


def write_blocks(path: str | Path, blocks: Iterable[np.ndarray], sample_rate: int, channels: int) -> int:
    """Write consecutive float [channels, n] blocks as one audio file, atomically (a temporary file renamed
    once the last block is in: an interrupted write leaves no partial output), as `save_audio` formats it.
    Memory is one block, whatever the length. Returns the frames written."""
    from m2l2.io import atomic_path

    path = Path(path)
    check_output_suffix(path)
    suffix = path.suffix.lower()
    subtype = "PCM_16" if suffix in {".wav", ".flac", ".aiff", ".aif"} else None
    frames = 0
    with atomic_path(path) as tmp, sf.SoundFile(str(tmp), "w", sample_rate, channels, subtype=subtype,
                                                format=WRITE_FORMATS[suffix]) as out:
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            out.write(np.clip(block, -1, 1).T)
            frames += block.shape[-1]
    return frames
