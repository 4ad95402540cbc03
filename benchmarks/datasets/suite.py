"""Loaders for the parts of the offline default suite (see benchmarks/suite), which share one layout:
<suite root>/<part>/metadata.csv with columns id, path (relative to the part folder), split, and labels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.datasets.base import Item, read_csv_rows, require_file
from benchmarks.datasets.tinysol import fold_split
from m2l2.errors import M2L2Error

PARTS = ("music", "notes", "key", "tags", "speech")  # what `make tables` builds and evaluates on
TRAINING_PARTS = ("music-train",)  # built on request: full tracks for training (m2l2 data build --parts)
LIST_COLUMNS = {"tags", "instrument_families"}
INT_COLUMNS = {"midi", "fold", "tempo", "transpose", "velocity", "n_tracks"}
FLOAT_COLUMNS = {"start_s", "duration_s"}


def default_root() -> Path:
    """Where the default suite lives: $M2L2_DATA_DIR, else ~/.cache/m2l2/suite."""
    env = os.environ.get("M2L2_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "m2l2" / "suite"


def _convert(column: str, value: str):
    if column in LIST_COLUMNS:
        return [v for v in value.split(";") if v]
    if column in INT_COLUMNS:
        return int(value) if value != "" else None
    if column in FLOAT_COLUMNS:
        return float(value) if value != "" else None
    return value


def load_part(part: str, root: str | Path, split: str | None = None, fold: int = 0) -> list[Item]:
    """Items of one suite part. For "notes", the split comes from `fold` (fold valid, fold+1 test)."""
    if part not in PARTS:
        raise M2L2Error(
            f"unknown suite part {part!r} (dataset name suite-{part}): use one of {', '.join(PARTS)}"
        )
    folder = Path(root) / part
    layout = f"  {folder}/metadata.csv  (built by `m2l2 data build --parts {part}`)"
    rows = read_csv_rows(require_file(folder / "metadata.csv", f"suite-{part}", layout))
    items = []
    for r in rows:
        labels = {k: _convert(k, v) for k, v in r.items() if k not in ("id", "path", "split")}
        item_split = fold_split(fold, labels["fold"]) if part == "notes" else r["split"]
        if split is not None and item_split != split:
            continue
        items.append(Item(r["id"], folder / r["path"], labels, item_split))
    if split is not None and not items:
        known = sorted({r["split"] for r in rows}) if part != "notes" else ["train", "valid", "test"]
        raise M2L2Error(
            f"suite-{part}: no items in split {split!r} ({folder / 'metadata.csv'}): use one of the splits "
            f"{', '.join(known)}"
        )
    return items


def tag_vocabulary(root: str | Path | None = None) -> list[str]:
    """The tags part's vocabulary (tags/vocabulary.txt): the column order of multi-hot targets."""
    if root is None:
        root = default_root()
    path = Path(root) / "tags" / "vocabulary.txt"
    text = require_file(
        path, "suite-tags", f"  {path}  (built by `m2l2 data build --parts tags`)"
    ).read_text()
    return [t for t in text.splitlines() if t]


def multi_hot(items: list[Item], vocabulary: list[str]) -> np.ndarray:
    """[N, len(vocabulary)] float32 targets from each item's "tags" list (unknown tags are an error)."""
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(items), len(vocabulary)), dtype=np.float32)
    for n, it in enumerate(items):
        for tag in it.labels["tags"]:
            if tag not in index:
                raise M2L2Error(
                    f"tag {tag!r} of {it.id} is not in the vocabulary (tags/vocabulary.txt): rebuild the "
                    "part with `m2l2 data build --parts tags`"
                )
            out[n, index[tag]] = 1.0
    return out
