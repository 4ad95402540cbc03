"""Write probing embeddings in mir_ref's folder layout, so users who have mir_ref can probe the same features.

mir_ref looks an embedding up at `<dataset dir>/embeddings/<feature name>/<audio path relative to the
deepest folder common to all of the dataset's audio files, with the suffix replaced by .npy>`, each file one
`np.save`d vector (its `feature_aggregation: mean`). We write exactly that under `<out>/<dataset>/`, plus
`metadata.csv` (id, audio path, split, labels) and `features.json` (model identities), which mir_ref does not
read but which say what the files are.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from m2l2.errors import M2L2Error
from m2l2.io import atomic_path


def feature_name(label: str) -> str:
    """A folder-safe feature name: 'MusiCNN-MSD' → 'musicnn-msd'."""
    return (
        "".join(c if c.isalnum() or c in "-_." else "-" for c in label.strip().lower()).strip("-")
        or "feature"
    )


def relative_paths(items: Sequence[Any]) -> list[Path]:
    """Each item's audio path relative to the deepest common folder (mir_ref's `common_audio_dir`);
    items without a file (derived clips) use their id."""
    paths = [Path(it.path).resolve() if getattr(it, "path", None) is not None else None for it in items]
    real = [str(p) for p in paths if p is not None]
    common = Path(os.path.commonpath(real)) if real else None
    if common is not None and len(real) == 1:
        common = common.parent
    out = []
    for it, p in zip(items, paths):
        out.append(p.relative_to(common) if p is not None and common is not None else Path(f"{it.id}.wav"))
    if len(set(out)) != len(out):
        shared = next(p for p, n in Counter(out).items() if n > 1)
        raise M2L2Error(
            "two items map onto the same embedding file, so mir_ref's layout cannot hold them "
            f"(table3.export_dir: {shared.with_suffix('.npy')}): give the items distinct paths or ids, or "
            "set table3.export_dir: null"
        )
    return out


def _save(path: Path, vector: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(vector, dtype=np.float32), allow_pickle=False)


def export_mir_ref(
    out_root: str | Path,
    dataset: str,
    model_label: str,
    items: Sequence[Any],
    features: np.ndarray,
    identity: dict[str, Any] | None = None,
) -> Path:
    """Write one `.npy` vector per item under `<out_root>/<dataset>/embeddings/<feature>/`; returns that folder."""
    if len(items) != len(features):
        raise M2L2Error(
            f"{len(items)} items but {len(features)} embeddings (export_mir_ref arguments): pass one "
            "embedding per item"
        )
    base = Path(out_root) / dataset
    folder = base / "embeddings" / feature_name(model_label)
    rels = relative_paths(items)
    for rel, vec in zip(rels, features):
        target = folder / rel.with_suffix(".npy")
        if target.is_file():
            try:
                if np.array_equal(np.load(target, allow_pickle=False), vec.astype(np.float32)):
                    continue
            except (OSError, ValueError):
                pass
        _save(target, vec)
    base.mkdir(parents=True, exist_ok=True)
    meta = base / "metadata.csv"
    with atomic_path(meta) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "audio", "embedding", "split", "labels"])
        for it, rel in zip(items, rels):
            w.writerow(
                [
                    it.id,
                    "" if it.path is None else str(it.path),
                    rel.with_suffix(".npy").as_posix(),
                    it.split or "",
                    json.dumps(it.labels, sort_keys=True, ensure_ascii=False),
                ]
            )
    info_file = base / "features.json"
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    info[feature_name(model_label)] = {
        "label": model_label,
        "dim": int(features.shape[1]),
        "aggregation": "mean over time",
        "identity": identity,
    }
    info_file.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return folder
