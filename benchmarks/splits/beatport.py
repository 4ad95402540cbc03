"""Generate or verify the Beatport EDM key split (stratified by key, 80/10/10, seed 42).

The track list is not redistributable, so instead of a list this script is shipped: it rebuilds the same split
from any copy of the dataset. `python -m benchmarks.splits.beatport ROOT --out split.csv` writes it;
`--verify split.csv` checks a folder against a split file someone shared.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from benchmarks.splits.stratified import stratified_split

SEED = 42
FRACTIONS = (0.8, 0.1, 0.1)


def make_split(keys: dict[str, str], seed: int = SEED) -> dict[str, str]:
    """track name → split, from the tracks' (single, normalised) keys."""
    return stratified_split(keys, seed=seed, fractions=FRACTIONS)


def write_split(split: dict[str, str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["track", "split"])
        for name in sorted(split):
            w.writerow([name, split[name]])


def read_split(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["track"]: r["split"] for r in csv.DictReader(f)}


def diff_splits(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Human-readable differences between two splits (empty when they agree)."""
    out = [f"{n}: only in the split file" for n in sorted(set(expected) - set(actual))]
    out += [f"{n}: not in the split file" for n in sorted(set(actual) - set(expected))]
    out += [f"{n}: {expected[n]} in the file, {actual[n]} here" for n in sorted(set(expected) & set(actual))
            if expected[n] != actual[n]]
    return out


def main(argv: list[str] | None = None) -> int:
    from benchmarks.datasets.beatport import read_keys

    ap = argparse.ArgumentParser(description=__doc__)
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
