"""Beatport EDM key (Faraldo): 24 key classes, flats written as sharps, single-key tracks only.

There is no official split; the loader derives the seeded stratified 80/10/10 split (seed 42) from the folder
itself (benchmarks/splits/beatport.py), or reads a split file someone shared and checks it against the folder.
`python -m benchmarks.datasets.beatport ROOT --out split.csv` writes the split; `--verify FILE` checks one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmarks.datasets.base import SPLITS, Item, check_split, layout_error, normalize_key, require_file
from benchmarks.splits.beatport import diff_splits, make_split, read_split, write_split
from m2l2.errors import M2L2Error

log = logging.getLogger("m2l2.datasets")
AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg")
LAYOUT = """  <root>/audio/<name>.mp3
  <root>/keys/<name>.txt     (one line such as "D minor"; several keys separated by " | ")
  <root>/meta/<name>.json    (optional)"""


def parse_key_line(text: str) -> list[str | None]:
    """Every key in a keys/*.txt line, normalised; None for "other" or anything unreadable."""
    out: list[str | None] = []
    for part in text.strip().split("|"):
        try:
            out.append(normalize_key(part))
        except ValueError:
            out.append(None)
    return out


def read_keys(root: str | Path) -> dict[str, str]:
    """Track name → key for the tracks with exactly one valid key."""
    root = Path(root)
    keys_dir = require_file(root / "keys", "Beatport EDM key", LAYOUT)
    files = sorted(keys_dir.glob("*.txt"))
    if not files:
        raise layout_error("Beatport EDM key", "no .txt files", keys_dir, LAYOUT)
    keys = {}
    for f in files:
        parsed = parse_key_line(f.read_text(encoding="utf-8", errors="replace"))
        if len(parsed) == 1 and parsed[0] is not None:
            keys[f.stem] = parsed[0]
    return keys


def _audio(root: Path, name: str) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        p = root / "audio" / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def load(root: str | Path, split: str | None = None, split_file: str | Path | None = None) -> list[Item]:
    """Single-key tracks with labels {"key": "C# minor"} and their split."""
    root = Path(root)
    check_split(split, SPLITS, "Beatport EDM key")
    require_file(root / "audio", "Beatport EDM key", LAYOUT)
    keys = read_keys(root)
    missing = [n for n in keys if _audio(root, n) is None]
    if missing:
        log.warning(
            "Beatport: %d of %d single-key tracks have no audio (e.g. %s); they are skipped",
            len(missing),
            len(keys),
            missing[0],
        )
        keys = {n: k for n, k in keys.items() if n not in missing}
    splits = make_split(keys)
    if split_file is not None:
        shared = read_split(Path(split_file))
        diffs = diff_splits(shared, splits)
        if diffs:
            raise M2L2Error(
                f"Beatport: the folder does not match the shared split, {len(diffs)} differences, e.g. "
                f"{diffs[0]} ({split_file}): use the audio and keys/ files that split was made from, or "
                "leave out split_file"
            )
    return [
        Item(n, _audio(root, n), {"key": keys[n]}, splits[n])
        for n in sorted(keys)
        if split is None or splits[n] == split
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write or verify the Beatport EDM key split of a dataset folder."
    )
    ap.add_argument("root", type=Path, help="Beatport EDM key dataset folder (audio/, keys/)")
    ap.add_argument("--out", type=Path, help="write the split as CSV (track,split)")
    ap.add_argument("--verify", type=Path, help="compare with an existing split CSV")
    args = ap.parse_args(argv)
    split = make_split(read_keys(args.root))
    counts = {s: sum(v == s for v in split.values()) for s in ("train", "valid", "test")}
    print(f"{len(split)} single-key tracks: {counts}")
    if args.out:
        write_split(split, args.out)
        print(f"wrote {args.out}")
    if args.verify:
        diffs = diff_splits(read_split(args.verify), split)
        for d in diffs[:20]:
            print(d)
        print("split matches" if not diffs else f"{len(diffs)} differences")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
