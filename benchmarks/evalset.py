"""The evaluation set of a configuration: its clips, each with a content hash that keys every cached output."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.config import TablesConfig
from m2l2.errors import M2L2Error
from m2l2.io import AUDIO_SUFFIXES, is_audio_file, walk_files

log = logging.getLogger(__name__)


@dataclass
class Clip:
    id: str
    reference: Path  # the file metrics compare against
    hash: str  # content hash of the reference audio
    item: Any = None

    def load(self) -> tuple[np.ndarray, int]:
        """The clip's audio [C, N] and rate, as its dataset gives it."""
        from m2l2.audio import load_audio

        return self.item.load() if self.item is not None else load_audio(self.reference)


def folder_items(root: Path) -> list[Any]:
    """Every audio file under `root` as a dataset item (id: the relative path without suffix)."""
    from benchmarks.datasets import Item

    if not root.is_dir():
        raise M2L2Error(f"dataset folder not found ({root}): fix dataset.root in the configuration")
    files = [p for p in walk_files(root) if is_audio_file(p)]  # symlinked sub-folders included
    if not files:
        raise M2L2Error(
            f"no audio files in the dataset folder ({root}): put {', '.join(AUDIO_SUFFIXES)} files there, or "
            "fix dataset.root in the configuration"
        )
    return [Item(p.relative_to(root).with_suffix("").as_posix(), p, {}, "eval") for p in files]


def load_clips(
    cfg: TablesConfig, cache: Path, skipped: dict[str, str] | None = None, progress: bool = True
) -> list[Clip]:
    """The evaluation clips, with content hashes (derived clips are written once into the cache).

    A clip whose audio is unusable (unreadable, empty, NaN/Inf) is left out with a logged warning, and its
    reason goes into `skipped` (clip id → reason) when given."""
    from benchmarks.metrics.cache import array_content_hash, file_content_hash
    from m2l2.audio import AudioError, audio_problem, save_audio

    ds = cfg.dataset
    root = Path(ds.root).expanduser() if ds.root else None
    if ds.name == "folder":
        if root is None:
            raise M2L2Error(
                f"dataset 'folder' has no root ({cfg.where}: dataset.root): set it to the folder of audio "
                "files to evaluate on"
            )
        items = folder_items(root)
    else:
        if ds.name.startswith("suite-") and ds.build_suite:
            from benchmarks.suite import ensure_built

            log.info("default suite: checking parts %s (built when absent)", ", ".join(ds.build_suite))
            ensure_built(root, parts=list(ds.build_suite))
        from benchmarks.datasets import load

        items = load(ds.name, root, split=ds.split)
    items = sorted(items, key=lambda it: it.id)
    if ds.max_clips is not None:
        items = items[: ds.max_clips]
    clips = []
    for it in tqdm(items, desc="hashing clips", unit="clip", file=sys.stdout, mininterval=1.0, disable=not progress):
        if it.loader is None and it.path is not None:
            problem = audio_problem(it.path)
            if problem is not None:
                skip_clip(it.id, f"{Path(it.path).name}: {problem}", skipped)
                continue
            clips.append(Clip(it.id, Path(it.path), file_content_hash(it.path), it))
            continue
        try:
            audio, sr = it.load()
        except AudioError as e:
            skip_clip(it.id, f"{e.path.name}: {e.reason}", skipped)
            continue
        content = array_content_hash(audio, sr)
        ref = cache / "references" / f"{content[6:22]}.flac"
        if not ref.is_file():
            save_audio(ref, audio, sr)
        clips.append(Clip(it.id, ref, content, it))
    ids = [c.id for c in clips]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise M2L2Error(
            f"{ds.name}: clip id {duplicate!r} is not unique ({dataset_place(cfg)}): give each clip its own "
            "name (a folder dataset's ids are the file paths without their suffix)"
        )
    return clips


def dataset_place(cfg: TablesConfig) -> str:
    """Where an error about the evaluation set points: the dataset folder as configured, else its name."""
    if cfg.dataset.root:
        return f"{cfg.where}: dataset.root {cfg.dataset.root}"
    return f"{cfg.where}: dataset.name"


def no_clips_error(cfg: TablesConfig) -> M2L2Error:
    """No usable clip in the evaluation set: the dataset is empty, or every clip was skipped as unusable."""
    return M2L2Error(
        f"{cfg.dataset.name}: no clips to evaluate ({dataset_place(cfg)}): point the dataset at audio "
        "files; unusable ones are skipped with a warning above"
    )


def skip_clip(clip: str, why: str, skipped: dict[str, str] | None) -> None:
    log.warning("warning: skipped clip %s: %s", clip, why)
    if skipped is not None:
        skipped[clip] = why


def clips_for(
    cfg: TablesConfig, max_clips: int | None = None, skipped: dict[str, str] | None = None, progress: bool = True
) -> list[Clip]:
    """The first `max_clips` evaluation clips (all when None); an error when there are none."""
    clips = load_clips(cfg, Path(cfg.cache_dir).expanduser(), skipped, progress)
    if not clips:
        raise no_clips_error(cfg)
    return clips[:max_clips] if max_clips is not None else clips
