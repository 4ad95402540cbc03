"""The verified chorale list of the key part, shipped as data (benchmarks/suite/data/chorales.json).

Checking a chorale's key means parsing and analysing it (seconds per score, minutes for the corpus), so the
list is made once by this script and shipped; the build then parses only the chorales it renders.
Regenerate with `python -m benchmarks.suite.chorales` (needs music21; the file records its version).
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.datasets.base import PITCH_CLASSES
from m2l2.errors import M2L2Error

DATA_FILE = Path(__file__).with_name("data") / "chorales.json"
MIN_QUARTERS = 24.0  # shorter chorales cannot fill a 20-s clip at a plausible tempo


def music21():
    try:
        import music21 as m21
    except ImportError as e:
        raise M2L2Error("the key part needs music21 (suite part key): pip install 'm2l2[data]'") from e
    return m21


def verified_key(score) -> str | None:
    """The chorale's key when analysis, key signature and final bass note agree; else None."""
    analysed = score.analyze("key")
    sigs = score.flatten().getElementsByClass("KeySignature")
    if not sigs:
        return None
    sig_key = sigs[0].asKey(analysed.mode)
    bass = score.parts[-1].flatten().notes
    if not bass or sig_key.tonic.name != analysed.tonic.name:
        return None
    last = bass[-1]
    last_pc = (last.pitches[0] if hasattr(last, "pitches") else last.pitch).pitchClass
    if last_pc != analysed.tonic.pitchClass:
        return None
    return f"{PITCH_CLASSES[analysed.tonic.pitchClass]} {analysed.mode}"


def scan_corpus() -> list[dict]:
    """Every four-part Bach chorale of the music21 corpus, long enough, whose key passes the check."""
    from tqdm import tqdm

    m21 = music21()
    paths = sorted(str(p) for p in m21.corpus.getComposer("bach"))
    out, seen = [], set()
    for p in tqdm(paths, desc="checking chorales", unit="score", mininterval=2.0):
        if Path(p).stem in seen:  # a few chorales are in the corpus twice (.krn and .mxl): keep the first
            continue
        try:
            score = m21.corpus.parse(p)
        except Exception:  # noqa: BLE001 - a score music21 cannot read is simply not used
            continue
        if len(score.parts) != 4 or score.highestTime < MIN_QUARTERS:
            continue
        key = verified_key(score)
        if key is not None:
            seen.add(Path(p).stem)
            out.append(
                {"name": Path(p).stem, "path": Path(p).name, "key": key, "quarters": float(score.highestTime)}
            )
    return out


def load_chorales() -> list[dict]:
    """The shipped list (corpus order)."""
    if not DATA_FILE.is_file():
        raise M2L2Error(
            f"the chorale list is missing from the installation ({DATA_FILE}): regenerate it with "
            "`python -m benchmarks.suite.chorales`"
        )
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))["chorales"]


def dumps(doc: dict) -> str:
    """JSON with one chorale per line (diff-friendly)."""
    head = json.dumps({k: v for k, v in doc.items() if k != "chorales"}, indent=1)[:-2]
    rows = ",\n".join("  " + json.dumps(c, sort_keys=True) for c in doc["chorales"])
    return f'{head},\n "chorales": [\n{rows}\n ]\n}}\n'


def main() -> None:
    from importlib.metadata import version

    chorales = scan_corpus()
    doc = {
        "music21": version("music21"),
        "check": "analysed key == key signature key == final bass note",
        "min_quarters": MIN_QUARTERS,
        "chorales": chorales,
    }
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    DATA_FILE.write_text(dumps(doc), encoding="utf-8")
    n_major = sum(c["key"].endswith("major") for c in chorales)
    print(f"{DATA_FILE}: {len(chorales)} chorales ({n_major} major, {len(chorales) - n_major} minor)")


if __name__ == "__main__":
    main()
