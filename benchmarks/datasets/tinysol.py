"""TinySOL (2,913 isolated notes): instrument in full, pitch class, and the metadata's five folds.

Split protocol (mir_ref): fold i is validation, fold i+1 (mod 5) test, the other folds train.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.datasets.base import (
    SPLITS,
    Item,
    check_split,
    layout_error,
    normalize_pitch_class,
    read_csv_rows,
    require_audio,
    require_file,
)
from m2l2.errors import M2L2Error

METADATA = Path("annotation") / "TinySOL_metadata.csv"
N_FOLDS = 5
LAYOUT = f"""  <root>/{METADATA.as_posix()}   (columns Path, Fold, Family, Instrument (abbr.), Instrument (in full),
                                       Technique (abbr.), Technique (in full), Pitch, Pitch ID, Dynamics, ...)
  <root>/audio/<Family>/<Instrument>/ordinario/<file>.wav   (Path is relative to <root>/audio)"""
_PITCH = re.compile(r"^([A-Ga-g][#b]?)(-?\d+)$")


def fold_split(fold: int, item_fold: int) -> str:
    if item_fold == fold % N_FOLDS:
        return "valid"
    if item_fold == (fold + 1) % N_FOLDS:
        return "test"
    return "train"


def load(root: str | Path, split: str | None = None, fold: int = 0, check_audio: bool = True) -> list[Item]:
    """Notes with labels instrument, family, pitch (name), midi, pitch_class, dynamics, fold."""
    root = Path(root)
    check_split(split, SPLITS, "TinySOL")
    rows = read_csv_rows(require_file(root / METADATA, "TinySOL", LAYOUT))
    needed = {"Path", "Fold", "Family", "Instrument (in full)", "Pitch"}
    if not rows or not needed <= set(rows[0]):
        raise layout_error("TinySOL", f"columns {sorted(needed)} missing", root / METADATA, LAYOUT)
    items = []
    for r in rows:
        m = _PITCH.match(r["Pitch"].strip())
        if m is None:
            raise M2L2Error(
                f"TinySOL: unreadable pitch {r['Pitch']!r} for {r['Path']} ({root / METADATA}): write it as "
                "a note name and octave, e.g. C#4"
            )
        item_fold = int(r["Fold"])
        item_split = fold_split(fold, item_fold)
        if split is not None and item_split != split:
            continue
        labels = {
            "instrument": r["Instrument (in full)"].strip(),
            "family": r["Family"].strip(),
            "pitch": r["Pitch"].strip(),
            "pitch_class": normalize_pitch_class(m.group(1)),
            "midi": int(r["Pitch ID"]) if r.get("Pitch ID", "").strip() else None,
            "dynamics": r.get("Dynamics", "").strip(),
            "fold": item_fold,
        }
        path = root / "audio" / r["Path"].strip()
        items.append(Item(Path(r["Path"]).stem, path, labels, item_split))
    if check_audio:
        require_audio(items, "TinySOL", LAYOUT)
    return items
