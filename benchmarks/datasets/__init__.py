"""Dataset loaders behind one interface: `load(name, root, split=None) -> list[Item]`.

Names: the paper's datasets ("musiccaps", "mtat", "beatport", "tinysol") and the offline default suite's parts
("suite-music", "suite-notes", "suite-key", "suite-tags", "suite-speech"; root None = the default suite root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.datasets.base import KEYS, PITCH_CLASSES, Item
from m2l2.errors import M2L2Error

DATASETS = (
    "musiccaps",
    "mtat",
    "beatport",
    "tinysol",
    "suite-music",
    "suite-notes",
    "suite-key",
    "suite-tags",
    "suite-speech",
)

__all__ = ["DATASETS", "KEYS", "PITCH_CLASSES", "Item", "load"]


def load(name: str, root: str | Path | None = None, split: str | None = None, **options: Any) -> list[Item]:
    """Items of dataset `name` under `root`, optionally only one split. Extra options go to the loader
    (e.g. fold=1 for TinySOL, split_dir=... for MagnaTagATune, split_file=... for Beatport)."""
    if name.startswith("suite-"):
        from benchmarks.datasets.suite import default_root, load_part

        return load_part(
            name[len("suite-") :], root if root is not None else default_root(), split, **options
        )
    if root is None:
        raise M2L2Error(
            f"{name}: no dataset folder given (option root): give the folder that holds the dataset"
        )
    if name == "musiccaps":
        from benchmarks.datasets import musiccaps as mod
    elif name == "mtat":
        from benchmarks.datasets import mtat as mod
    elif name == "beatport":
        from benchmarks.datasets import beatport as mod
    elif name == "tinysol":
        from benchmarks.datasets import tinysol as mod
    else:
        raise M2L2Error(f"unknown dataset {name!r} (dataset name): use one of {', '.join(DATASETS)}")
    return mod.load(root, split=split, **options)
