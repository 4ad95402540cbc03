"""MusicCaps: the public CSV plus the clips a user downloaded from YouTube (named by ytid).

Clips vanish from YouTube over time, so missing files are normal: they are counted and reported, never fatal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.datasets.base import Item, check_split, layout_error, read_csv_rows, require_file
from m2l2.audio import convert_channels, load_audio, resample

log = logging.getLogger("m2l2.datasets")

CSV_NAME = "musiccaps-public.csv"
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".webm")
AUDIO_DIRS = ("audio", "wav", "music_data", "clips", ".")
LAYOUT = f"""  <root>/{CSV_NAME}   (columns ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,
                              author_id,is_balanced_subset,is_audioset_eval)
  <root>/audio/<ytid>.wav       (or .flac/.mp3/...; also <root>/<ytid>.*, or <ytid>_<start>... names)"""
# split=None: every clip; "eval": the AudioSet-eval subset (is_audioset_eval); "train": the rest.
SPLITS_ALLOWED = ("eval", "train")


@dataclass(frozen=True)
class ScanResult:
    items: list[Item]
    missing: list[str]  # ytids listed in the CSV (after filtering) that have no audio file


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def _index_audio(root: Path) -> dict[str, Path]:
    """Map every audio file's stem to its path, searching the usual download folders."""
    found: dict[str, Path] = {}
    for sub in AUDIO_DIRS:
        folder = root / sub
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file():
                found.setdefault(p.stem, p)
    return found


def _find(ytid: str, files: dict[str, Path], start_s: int) -> Path | None:
    if ytid in files:
        return files[ytid]
    # Download scripts often append the start (and end) time: "<ytid>_30", "<ytid>-30-40", "[<ytid>]-[30-40]".
    for pattern in (f"{ytid}_{start_s}", f"{ytid}-{start_s}", f"[{ytid}]"):
        for stem, p in files.items():
            if stem.startswith(pattern):
                return p
    return None


def _cropping_loader(path: Path, start_s: float, end_s: float):
    """Clips longer than the 10-s segment (a whole video) are cropped to [start_s, end_s]."""

    def load(sample_rate: int | None, channels: int | None) -> tuple[np.ndarray, int]:
        audio, sr = load_audio(path)
        if audio.shape[1] > (end_s - start_s + 1.0) * sr:
            audio = audio[:, int(start_s * sr) : int(end_s * sr)]
        if channels is not None:
            audio = convert_channels(audio, channels)
        if sample_rate is not None and sample_rate != sr:
            audio, sr = resample(audio, sr, sample_rate), sample_rate
        return audio.astype(np.float32, copy=False), sr

    return load


def scan(root: str | Path, split: str | None = None, balanced_only: bool = False) -> ScanResult:
    """Read the CSV, filter it, and pair each row with its downloaded clip; report what is missing."""
    root = Path(root)
    check_split(split, SPLITS_ALLOWED, "MusicCaps")
    rows = read_csv_rows(require_file(root / CSV_NAME, "MusicCaps", LAYOUT))
    if not rows or "ytid" not in rows[0]:
        raise layout_error("MusicCaps", "no 'ytid' column or no rows", root / CSV_NAME, LAYOUT)
    files = _index_audio(root)
    items, missing = [], []
    for row in rows:
        is_eval = _truthy(row.get("is_audioset_eval", "False"))
        if split == "eval" and not is_eval or split == "train" and is_eval:
            continue
        if balanced_only and not _truthy(row.get("is_balanced_subset", "False")):
            continue
        start_s, end_s = int(float(row["start_s"])), int(float(row["end_s"]))
        path = _find(row["ytid"], files, start_s)
        if path is None:
            missing.append(row["ytid"])
            continue
        labels = {
            "caption": row.get("caption", ""),
            "aspect_list": row.get("aspect_list", ""),
            "audioset_positive_labels": row.get("audioset_positive_labels", ""),
            "start_s": start_s,
            "end_s": end_s,
            "is_balanced_subset": _truthy(row.get("is_balanced_subset", "False")),
            "is_audioset_eval": is_eval,
        }
        items.append(
            Item(
                row["ytid"],
                path,
                labels,
                "eval" if is_eval else "train",
                loader=_cropping_loader(path, start_s, end_s),
            )
        )
    if not files:
        raise layout_error("MusicCaps", "no audio files found", root, LAYOUT)
    return ScanResult(items, missing)


def load(root: str | Path, split: str | None = None, balanced_only: bool = False) -> list[Item]:
    """Items for the clips that are present; the number of missing clips is logged (a warning)."""
    result = scan(root, split=split, balanced_only=balanced_only)
    if result.missing:
        total = len(result.items) + len(result.missing)
        log.warning(
            "MusicCaps: %d of %d clips are missing from %s (first: %s)",
            len(result.missing),
            total,
            root,
            ", ".join(result.missing[:5]),
        )
    return result.items
