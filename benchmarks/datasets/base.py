"""The common item type every dataset loader returns, and small shared helpers."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from m2l2.audio import load_audio
from m2l2.errors import M2L2Error

SPLITS = ("train", "valid", "test")

# Sharps are the canonical spelling of the 24 key classes (flats map onto them).
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_TO_SHARP = {
    "Db": "C#",
    "Eb": "D#",
    "Fb": "E",
    "Gb": "F#",
    "Ab": "G#",
    "Bb": "A#",
    "Cb": "B",
    "E#": "F",
    "B#": "C",
}
KEYS = tuple(f"{p} {m}" for m in ("major", "minor") for p in PITCH_CLASSES)


@dataclass(frozen=True)
class Item:
    """One labelled example: an id, where its audio is (a path, or a loader for cropped/derived audio),
    its labels (JSON-able values) and its split (None when the dataset has no split for it)."""

    id: str
    path: Path | None
    labels: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    loader: Callable[[int | None, int | None], tuple[np.ndarray, int]] | None = field(
        default=None, compare=False, repr=False
    )

    def load(self, sample_rate: int | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
        """Decode to float32 [C, N] at `sample_rate` with `channels` (soundfile/PyAV, soxr resampling)."""
        if self.loader is not None:
            return self.loader(sample_rate, channels)
        if self.path is None:
            raise M2L2Error(f"dataset item has neither a path nor a loader ({self.id}): give it one of them")
        return load_audio(self.path, sample_rate=sample_rate, channels=channels)


def normalize_pitch_class(name: str) -> str:
    """'Eb' → 'D#', 'c#' → 'C#'; raises ValueError for anything that is not a pitch class."""
    name = name.strip().replace("♯", "#").replace("♭", "b")
    if not name:
        raise ValueError("empty pitch class")
    name = name[0].upper() + name[1:]
    name = _FLAT_TO_SHARP.get(name, name)
    if name not in PITCH_CLASSES:
        raise ValueError(f"not a pitch class: {name!r}")
    return name


def normalize_key(text: str) -> str:
    """'Eb minor' / 'eb min' / 'D# Minor' → 'D# minor' (one of the 24 KEYS); ValueError otherwise."""
    parts = text.strip().split()
    if len(parts) != 2:
        raise ValueError(f"not a key: {text!r}")
    mode = parts[1].lower()
    mode = {"maj": "major", "min": "minor"}.get(mode, mode)
    if mode not in ("major", "minor"):
        raise ValueError(f"not a key mode: {text!r}")
    return f"{normalize_pitch_class(parts[0])} {mode}"


def layout_error(dataset: str, what: str, where: str | Path, layout: str) -> M2L2Error:
    """A dataset folder that is not laid out as its loader expects: the error names the layout (`LAYOUT` of
    each loader, one file per line, continuation lines indented deeper) on the error's one line."""
    return M2L2Error(f"{dataset}: {what} ({where}): lay the dataset out as {one_line_layout(layout)}")


def one_line_layout(layout: str) -> str:
    """A multi-line layout as one line: its entries joined by '; ', each entry's continuation lines (indented
    deeper than two spaces) joined to it, runs of spaces collapsed."""
    entries: list[str] = []
    for line in layout.splitlines():
        if entries and line.startswith("   "):
            entries[-1] += " " + line
        else:
            entries.append(line)
    return "; ".join(" ".join(entry.split()) for entry in entries if entry.strip())


def require_file(path: Path, dataset: str, layout: str) -> Path:
    """Return `path` if it exists, else raise an error that shows the layout the loader expects."""
    if not path.exists():
        raise layout_error(dataset, "not found", path, layout)
    return path


def require_audio(items: list, dataset: str, layout: str) -> None:
    """Raise, naming one missing file and the expected layout, when any item's audio file is absent."""
    missing = [it for it in items if not it.path.is_file()]
    if missing:
        what = f"{len(missing)} of {len(items)} audio files are missing"
        raise layout_error(dataset, what, f"e.g. {missing[0].path}", layout)


def check_split(split: str | None, allowed: tuple[str, ...], dataset: str) -> None:
    if split is not None and split not in allowed:
        raise M2L2Error(f"{dataset}: unknown split {split!r} (option split): use one of {', '.join(allowed)}")


def read_csv_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    """Read a CSV with a header row into dicts (UTF-8, BOM tolerated)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f, delimiter=delimiter))
