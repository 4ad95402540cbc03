"""Where the audio of an evaluation comes from: pairing folders, reading a file or an in-memory array at
the rate a metric needs, and screening out pairs that are not usable audio."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.metrics.evaluation_types import ClipPair, Source
from benchmarks.metrics.visqol import to_mono
from m2l2.audio import audio_problem, load_audio, resample
from m2l2.errors import M2L2Error
from m2l2.io import AUDIO_SUFFIXES, walk_files


def pairs_from_dirs(
    reference_dir: str | Path, estimate_dir: str | Path
) -> tuple[list[ClipPair], list[str], list[str]]:
    """Pair audio files by relative path without extension; returns (pairs, missing estimates, extra estimates)."""

    def index(root: Path) -> dict[str, Path]:
        if not root.is_dir():
            raise M2L2Error(f"not a folder ({root}): give a folder of audio files")
        found: dict[str, Path] = {}
        for p in walk_files(root):  # symlinked sub-folders included
            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES:
                key = p.relative_to(root).with_suffix("").as_posix()
                if key in found:
                    raise M2L2Error(
                        f"two audio files for one clip, {found[key].name} and {p.name} ({p.parent}): keep "
                        "one of them"
                    )
                found[key] = p
        return found

    refs, ests = index(Path(reference_dir)), index(Path(estimate_dir))
    pairs = [ClipPair(k, refs[k], ests[k]) for k in sorted(refs) if k in ests]
    missing = sorted(k for k in refs if k not in ests)
    extra = sorted(k for k in ests if k not in refs)
    return pairs, missing, extra


def load_source(source: Source, sample_rate: int | None = None, mono: bool = False) -> tuple[np.ndarray, int]:
    """[C, N] float32 (or [N] when mono) at `sample_rate` (native when None)."""
    if isinstance(source, tuple):
        audio, sr = np.asarray(source[0], dtype=np.float32), int(source[1])
        audio = audio[None] if audio.ndim == 1 else audio
        if mono:
            audio = to_mono(audio)[None].astype(np.float32)
        if sample_rate is not None and sample_rate != sr:
            audio, sr = resample(audio, sr, sample_rate), sample_rate
    else:
        audio, sr = load_audio(source, sample_rate=sample_rate, channels=1 if mono else None)
    return (audio[0] if mono else audio), sr


def source_problem(source: Source) -> str | None:
    """Why `source` cannot be scored (unreadable, zero channels, empty, NaN/Inf samples), or None."""
    if not isinstance(source, tuple):
        return audio_problem(source)
    audio = np.asarray(source[0])
    if audio.size == 0:
        return "empty: no samples"
    if not np.isfinite(audio).all():
        return "non-finite samples"
    return None


def screen_pairs(pairs: Sequence[ClipPair]) -> tuple[list[ClipPair], dict[str, str]]:
    """(pairs whose reference and estimate are usable audio, clip → why each other pair is skipped).

    Every file is decoded once more here; the price of never scoring a corrupt or NaN-holding file."""
    usable, unusable = [], {}
    for pair in pairs:
        for side, source in (("reference", pair.reference), ("estimate", pair.estimate)):
            problem = source_problem(source)
            if problem is not None:
                unusable[pair.clip] = f"{side} {_name(source)}: {problem}"
                break
        else:
            usable.append(pair)
    return usable, unusable


def _name(source: Source) -> str:
    return "(array)" if isinstance(source, tuple) else Path(source).name
