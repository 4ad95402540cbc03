"""Training crops from folders of audio files, as an infinite, seekable, deterministic stream.

Each micro-batch is a pure function of (seed, global micro-batch index): its own NumPy generator picks
a folder by weight, a file, a crop and a channel, and redraws quiet crops. Resuming is therefore just
starting at the right index, DataLoader workers take every n-th micro-batch (the loader interleaves
them back in order), and DDP rank r of W takes global indices k·W + r — the iterable equivalent of a
DistributedSampler: ranks never see the same draw, and the stream does not depend on worker count.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from m2l2.audio import AudioError, AudioWarning, audio_info, load_audio, resample
from m2l2.errors import M2L2Error
from m2l2.io import AUDIO_SUFFIXES, is_audio_file, walk_files
from m2l2.training.config import DataFolder

SAMPLE_RATE = 44_100
_MARGIN = 64  # extra input samples read on each side of a crop that is resampled (filter edge effects)


def list_audio_files(folder: str | Path) -> list[Path]:
    """Audio files under `folder` (recursive), sorted so the list is the same on every machine."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise M2L2Error(
            f"data folder not found ({folder}): fix its path in the train section (data, val_data, "
            "recon_data)"
        )
    files = [p for p in walk_files(folder) if is_audio_file(p)]  # symlinked sub-folders included
    if not files:
        raise M2L2Error(
            f"no audio files in the data folder ({folder}): put {', '.join(AUDIO_SUFFIXES)} files there, or "
            "fix its path in the train section"
        )
    return files


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


class CropReader:
    """Reads a crop of a file at 44.1 kHz without decoding the whole file where soundfile can seek.

    Every read goes through `m2l2.audio.load_audio`, so a corrupt file or a crop holding NaN/Inf raises
    `AudioError` (the dataset skips it) instead of reaching the model.
    """

    def __init__(self) -> None:
        self._info: dict[Path, tuple[int, int, int] | None] = {}

    def info(self, path: Path) -> tuple[int, int, int] | None:
        """(frames, sample rate, channels), or None where soundfile cannot read the file."""
        if path not in self._info:
            i = audio_info(path)
            self._info[path] = (i.frames, i.sample_rate, i.channels) if i is not None and i.frames > 0 else None
        return self._info[path]

    def read(self, path: Path, length: int, rng: np.random.Generator) -> np.ndarray:
        """A random `length`-sample crop [C, length] at 44.1 kHz (zero-padded if the file is shorter)."""
        info = self.info(path)
        if info is None:  # formats soundfile cannot seek in: decode the whole file (slow, but correct)
            audio, _ = load_audio(path, sample_rate=SAMPLE_RATE)
            return _crop(audio, length, rng)
        frames, sr, _ = info
        if sr == SAMPLE_RATE:
            start = int(rng.integers(0, max(frames - length, 0) + 1))
            audio, _ = load_audio(path, start=start, frames=length)
            return _pad(audio, length)
        need = math.ceil(length * sr / SAMPLE_RATE)
        start = int(rng.integers(0, max(frames - need, 0) + 1))
        lo = max(start - _MARGIN, 0)
        data, _ = load_audio(path, start=lo, frames=need + (start - lo) + _MARGIN)
        audio = resample(data, sr, SAMPLE_RATE)
        skip = round((start - lo) * SAMPLE_RATE / sr)
        return _pad(audio[:, skip : skip + length], length)


def _pad(audio: np.ndarray, length: int) -> np.ndarray:
    if audio.shape[1] >= length:
        return audio[:, :length]
    return np.pad(audio, ((0, 0), (0, length - audio.shape[1])))


def _crop(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(0, max(audio.shape[1] - length, 0) + 1))
    return _pad(audio[:, start : start + length], length)


def pick_channels(audio: np.ndarray, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Mono models get one random channel of the file; stereo models both (mono files duplicated)."""
    if channels == 1:
        c = int(rng.integers(audio.shape[0]))
        return audio[c : c + 1]
    if audio.shape[0] == 1:
        return np.repeat(audio, channels, axis=0)
    return audio[:channels]


class AudioCropDataset(IterableDataset):
    """Infinite stream of micro-batches [batch, channels, crop_samples] (float32 tensors).

    Use with `DataLoader(dataset, batch_size=None, num_workers=n)`: the loader's round-robin over
    workers returns the micro-batches in index order, so the stream is the same for any `n`.
    """

    def __init__(
        self,
        folders: Sequence[DataFolder],
        *,
        crop_samples: int,
        batch_size: int,
        channels: int = 1,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        rms_threshold: float = 0.001,
        max_quiet_retries: int = 200,
    ) -> None:
        super().__init__()
        if not folders:
            raise M2L2Error(
                "no training data folders (train.data): set train.data, a list of folders with weights"
            )
        if channels not in (1, 2):
            raise M2L2Error(f"models have 1 or 2 channels, got {channels} (model.channels): use 1 or 2")
        self.files = [list_audio_files(f.path) for f in folders]
        w = np.asarray([f.weight for f in folders], dtype=np.float64)
        self.weights = w / w.sum()
        self.crop_samples = int(crop_samples)
        self.batch_size = int(batch_size)
        self.channels = channels
        self.seed = int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.start = int(start)
        self.rms_threshold = float(rms_threshold)
        self.max_quiet_retries = int(max_quiet_retries)
        self.reader = CropReader()
        self.skipped: dict[str, str] = {}  # file → why its last crop was skipped (also warned once per file)

    def global_index(self, local_index: int) -> int:
        """Position in the run's global stream of the `local_index`-th micro-batch of this rank."""
        return local_index * self.world_size + self.rank

    def batch(self, global_index: int) -> torch.Tensor:
        """Micro-batch number `global_index` of the stream; same seed and index, same audio."""
        rng = np.random.default_rng([self.seed, global_index])
        out = np.empty((self.batch_size, self.channels, self.crop_samples), dtype=np.float32)
        for i in range(self.batch_size):
            out[i] = self.sample(rng)
        return torch.from_numpy(out)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One crop [channels, crop_samples], redrawn while its RMS is below the threshold or it cannot be
        used (unreadable file, NaN/Inf samples: skipped with a warning). The draws depend only on `rng`."""
        for _ in range(self.max_quiet_retries):
            folder = int(rng.choice(len(self.files), p=self.weights))
            path = self.files[folder][int(rng.integers(len(self.files[folder])))]
            try:
                crop = pick_channels(self.reader.read(path, self.crop_samples, rng), self.channels, rng)
            except AudioError as e:
                self._skip(path, e.reason)
                continue
            if rms(crop) >= self.rms_threshold:
                return crop
        bad = f", {len(self.skipped)} files skipped as unusable, e.g. {next(iter(self.skipped))}" if self.skipped else ""
        raise M2L2Error(
            f"{self.max_quiet_retries} crops in a row were quieter than RMS {self.rms_threshold} or "
            f"unusable{bad} (train.data): the data may be silent or corrupt; lower train.rms_threshold or "
            "check the folders"
        )

    def _skip(self, path: Path, reason: str) -> None:
        if str(path) not in self.skipped:
            warnings.warn(f"training data: skipped a crop of {path}: {reason}", AudioWarning, stacklevel=2)
        self.skipped[str(path)] = reason

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        local = self.start + worker
        while True:
            yield self.batch(self.global_index(local))
            local += workers


def fixed_batches(
    folders: Sequence[DataFolder],
    *,
    crop_samples: int,
    batch_size: int,
    count: int,
    channels: int = 1,
    seed: int = 0,
    rms_threshold: float = 0.001,
) -> list[torch.Tensor]:
    """`count` deterministic batches (for validation: the same crops at every evaluation)."""
    ds = AudioCropDataset(
        folders,
        crop_samples=crop_samples,
        batch_size=batch_size,
        channels=channels,
        seed=seed,
        rms_threshold=rms_threshold,
    )
    return [ds.batch(i) for i in range(count)]
