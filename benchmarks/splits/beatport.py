"""The Beatport EDM key split (stratified by key, 80/10/10, seed 42), made from the tracks' keys.

The track list is not redistributable, so instead of a list this rule is shipped: it rebuilds the same split
from any copy of the dataset (`python -m benchmarks.datasets.beatport ROOT --out split.csv` writes it;
`--verify split.csv` checks a folder against a split file someone shared).
"""

from __future__ import annotations

import csv
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
    out += [
        f"{n}: {expected[n]} in the file, {actual[n]} here"
        for n in sorted(set(expected) & set(actual))
        if expected[n] != actual[n]
    ]
    return out
