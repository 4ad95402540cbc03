"""MagnaTagATune with the top-50 tags and the train/valid/test split of Won et al. (2020).

The split files are not part of the dataset and their contents cannot be regenerated (they were drawn once),
so the loader reads the user's copies; it never invents a split.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from benchmarks.datasets.base import SPLITS, Item, check_split, layout_error, require_audio, require_file
from m2l2.errors import M2L2Error

ANNOTATIONS = "annotations_final.csv"
# Clips whose mp3 files are empty/corrupt in the official release; every tagging paper drops them.
CORRUPT_CLIP_IDS = frozenset({"35644", "55753", "57881"})
N_TAGS = 50
SPLIT_SOURCE = (
    "https://github.com/minzwon/sota-music-tagging-models (folder split/mtat/: train.npy, valid.npy, "
    "test.npy, and optionally tags.npy, binary.npy)"
)
LAYOUT = f"""  <root>/{ANNOTATIONS}   (tab-separated, quoted: "clip_id", 188 tag columns, "mp3_path")
  <root>/mp3/<0-9a-f>/<name>.mp3     (or <root>/<0-9a-f>/<name>.mp3)
  <root>/split/train.npy, valid.npy, test.npy   (Won et al.'s split; or pass split_dir=... or set
                                                 $M2L2_MTAT_SPLIT_DIR)"""


def read_annotations(root: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Tag names (188, in column order) and the rows of annotations_final.csv (tab-separated, quoted)."""
    path = require_file(root / ANNOTATIONS, "MagnaTagATune", LAYOUT)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t", quotechar='"')
        rows = list(reader)
        fields = list(reader.fieldnames or [])
    if "clip_id" not in fields or "mp3_path" not in fields:
        raise layout_error(
            "MagnaTagATune", "no clip_id/mp3_path columns (is it tab-separated?)", path, LAYOUT
        )
    tags = [c for c in fields if c not in ("clip_id", "mp3_path")]
    return tags, rows


def top_tags(tags: list[str], rows: list[dict[str, str]], n: int = N_TAGS) -> list[str]:
    """The n most frequent tags, most frequent first (ties keep column order)."""
    counts = {t: sum(r[t].strip() == "1" for r in rows) for t in tags}
    return sorted(tags, key=lambda t: -counts[t])[:n]


def _split_dir(root: Path, split_dir: str | Path | None) -> Path | None:
    for cand in (split_dir, os.environ.get("M2L2_MTAT_SPLIT_DIR"), root / "split", root):
        if cand and (Path(cand) / "train.npy").is_file():
            return Path(cand)
    return None


def _read_split(path: Path) -> list[str]:
    """Won et al.'s .npy entries are strings "<index>\\t<mp3_path>"; return the mp3 paths."""
    entries = np.load(path, allow_pickle=False)
    return [str(e).split("\t", 1)[-1] for e in entries]


def _audio_path(root: Path, mp3_path: str) -> Path:
    for base in (root / "mp3", root):
        p = base / mp3_path
        if p.is_file():
            return p
    return root / "mp3" / mp3_path


def load(
    root: str | Path, split: str | None = None, split_dir: str | Path | None = None, check_audio: bool = True
) -> list[Item]:
    """Top-50-tag items; with the split files present each item carries its split, and `split` filters."""
    root = Path(root)
    check_split(split, SPLITS, "MagnaTagATune")
    tags, rows = read_annotations(root)
    sdir = _split_dir(root, split_dir)
    if sdir is not None and (sdir / "tags.npy").is_file():
        vocab = [str(t) for t in np.load(sdir / "tags.npy", allow_pickle=False)]
        unknown = [t for t in vocab if t not in tags]
        if unknown:
            raise M2L2Error(
                f"MagnaTagATune: tags.npy names tags absent from {ANNOTATIONS}, {unknown[:5]} "
                f"({sdir / 'tags.npy'}): use the tags.npy that belongs to this {ANNOTATIONS}"
            )
    else:
        vocab = top_tags(tags, rows)
    split_of: dict[str, str] = {}
    if sdir is not None:
        for name in SPLITS:
            f = require_file(sdir / f"{name}.npy", "MagnaTagATune", LAYOUT)
            for p in _read_split(f):
                split_of[p] = name
    elif split is not None:
        raise M2L2Error(
            f"MagnaTagATune: split {split!r} asked for but no split files were found (looked in split_dir, "
            f"$M2L2_MTAT_SPLIT_DIR, {root / 'split'}, {root}): get train.npy, valid.npy and test.npy from "
            f"{SPLIT_SOURCE} and put them in {root / 'split'}"
        )
    items = []
    for r in rows:
        if r["clip_id"].strip() in CORRUPT_CLIP_IDS or not r["mp3_path"].strip():
            continue
        mp3 = r["mp3_path"].strip()
        item_split = split_of.get(mp3)
        if sdir is not None and item_split is None:
            continue  # clips outside Won et al.'s split (no top-50 tag) are not used
        if split is not None and item_split != split:
            continue
        present = [t for t in vocab if r[t].strip() == "1"]
        items.append(Item(r["clip_id"].strip(), _audio_path(root, mp3), {"tags": present}, item_split))
    if check_audio:
        require_audio(items, "MagnaTagATune", LAYOUT)
    return items


def tag_vocabulary(root: str | Path, split_dir: str | Path | None = None) -> list[str]:
    """The 50 tag names in the order used for multi-hot targets."""
    root = Path(root)
    sdir = _split_dir(root, split_dir)
    if sdir is not None and (sdir / "tags.npy").is_file():
        return [str(t) for t in np.load(sdir / "tags.npy", allow_pickle=False)]
    tags, rows = read_annotations(root)
    return top_tags(tags, rows)
