"""A seeded, stratified train/valid/test split that depends only on the item names and labels.

Sorting before shuffling makes the result independent of file-system order, so any user with the same
folder gets the same split.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def stratified_split(
    labels: dict[str, str], seed: int = 42, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, str]:
    """Map name → "train"/"valid"/"test", splitting each label class by `fractions` after a seeded shuffle."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for name, label in labels.items():
        by_class[label].append(name)
    rng = np.random.default_rng(seed)
    out: dict[str, str] = {}
    for label in sorted(by_class):
        names = sorted(by_class[label])
        order = rng.permutation(len(names))
        n_valid = int(round(fractions[1] * len(names)))
        n_test = int(round(fractions[2] * len(names)))
        n_train = len(names) - n_valid - n_test
        for rank, idx in enumerate(order):
            out[names[idx]] = "train" if rank < n_train else "valid" if rank < n_train + n_valid else "test"
    return out
