"""The dev split of the music suite: tracks held out of training for recipe decisions.

Every `every`-th track (sorted by track id) of the `music/train` split is a dev track; training uses the rest,
and the tables' `music/eval` tracks are never used for either. Defined on track ids, so clips of one track
and the track's full-length audio (part `music-train`) fall on the same side.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DEV_EVERY = 8


def dev_tracks(train_tracks: Iterable[str], every: int = DEV_EVERY) -> set[str]:
    """The held-out track ids among the `music/train` track ids."""
    tracks = sorted(set(train_tracks))
    return set(tracks[every - 1 :: every])


def track_of_clip(path: Path) -> str:
    """`<track>-<n>.flac` → `<track>` (the clip naming of the music part)."""
    return path.stem.rsplit("-", 1)[0]


def split_clips(folder: Path, every: int = DEV_EVERY) -> tuple[list[Path], list[Path]]:
    """(train, dev) clip files of a `music/train` folder, split by track."""
    files = sorted(folder.glob("*.flac"))
    held = dev_tracks((track_of_clip(f) for f in files), every)
    dev = [f for f in files if track_of_clip(f) in held]
    return [f for f in files if track_of_clip(f) not in held], dev
