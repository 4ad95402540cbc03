"""tags (MagnaTagATune-like): multi-label 10-s clips of seeded accompaniment from `mma` grooves.

Each clip: a named mma groove (46 grooves in 9 genre families), a seeded chord chart in a seeded key and
tempo, `RndSeed` so mma's humanising is repeatable, and (for a quarter of the clips) drums switched off. The
MIDI that mma writes is kept next to the audio and is where the labels come from: instrument families from the
GM programs of the channels that play, drums from channel-10 notes, tempo from the tempo event. Rendered with
FluidSynth and the notes part's soundfonts (alternating per clip, so no genre is tied to one soundfont).
Split by clip, seeded and stratified by genre family (80/10/10).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

from benchmarks.datasets.base import KEYS, PITCH_CLASSES
from benchmarks.splits.stratified import stratified_split
from benchmarks.suite.build import Context, Job
from benchmarks.suite.midi import read_midi
from benchmarks.suite.part_notes import SOUNDFONTS
from benchmarks.suite.synth import Event, Renderer
from m2l2.errors import M2L2Error

RECIPE_VERSION = "1"
COLUMNS = [
    "id",
    "path",
    "midi_path",
    "split",
    "tags",
    "genre",
    "groove",
    "instrument_families",
    "drums",
    "key",
    "tonic",
    "mode",
    "tempo",
    "tempo_bucket",
    "soundfont",
    "duration_s",
]
SR = 44100
SEED = 11
CLIP_S = 10.0
CLIPS_PER_GROOVE = 6
NO_DRUMS_FRACTION = 0.25
LICENCE_NOTE = "generated with mma (GPL) grooves and rendered with the listed soundfonts"

GENRES = {  # genre family → (mma grooves, tempo range in bpm)
    "rock": (["50srock", "60srock", "8beat", "basicrock", "softrock", "twist"], (96, 150)),
    "jazz": (["bebop", "bigband", "jazzcombo", "swing", "modernjazz", "jazzguitar"], (100, 200)),
    "blues": (["blues", "slowblues", "fastblues", "countryblues", "shuffleboggie"], (66, 132)),
    "latin": (["bossanova", "samba", "salsa", "mambo", "chacha", "rhumba", "tango"], (90, 180)),
    "country": (["bluegrass", "countryswing", "folk", "westernswing", "zydeco"], (90, 160)),
    "waltz": (["waltz", "vienesewaltz", "jazzwaltz", "frenchwaltz"], (84, 180)),
    "ballad": (["ballad", "popballad", "pianoballad", "rockballad", "stringballad"], (58, 86)),
    "soul-funk": (["dsoul", "bvfunk", "strut", "ska"], (84, 120)),
    "march": (["march", "dixiemarch", "bwmarch", "polka"], (100, 128)),
}
TEMPO_BUCKETS = ((90, "slow"), (130, "medium"), (1000, "fast"))  # upper bounds (exclusive)
GM_FAMILIES = [
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
]  # GM programs 8k..8k+7

# chord charts as (semitones above the tonic, chord type), one chord per bar, repeated
MAJOR_CHARTS = [
    [(0, ""), (7, ""), (9, "m"), (5, "")],
    [(0, ""), (5, ""), (7, ""), (0, "")],
    [(0, ""), (9, "m"), (2, "m"), (7, "7")],
    [(0, ""), (5, ""), (0, ""), (7, "")],
    [(0, ""), (4, "m"), (5, ""), (7, "7")],
    [(2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")],
]
MINOR_CHARTS = [
    [(0, "m"), (5, "m"), (7, "m"), (0, "m")],
    [(0, "m"), (8, ""), (3, ""), (10, "")],
    [(0, "m"), (5, "m"), (10, ""), (3, "")],
    [(0, "m"), (8, ""), (5, "m"), (7, "7")],
    [(0, "m"), (2, "m7b5"), (7, "7"), (0, "m")],
    [(0, "m"), (10, ""), (8, ""), (7, "7")],
]
BLUES_MAJOR = [
    [
        (0, "7"),
        (5, "7"),
        (0, "7"),
        (0, "7"),
        (5, "7"),
        (5, "7"),
        (0, "7"),
        (0, "7"),
        (7, "7"),
        (5, "7"),
        (0, "7"),
        (7, "7"),
    ]
]
BLUES_MINOR = [
    [
        (0, "m7"),
        (5, "m7"),
        (0, "m7"),
        (0, "m7"),
        (5, "m7"),
        (5, "m7"),
        (0, "m7"),
        (0, "m7"),
        (8, "7"),
        (7, "7"),
        (0, "m7"),
        (7, "7"),
    ]
]


def packages(small: bool) -> list[str]:
    return ["fluid-soundfont-gm"] if small else list(SOUNDFONTS)


def tempo_bucket(bpm: float) -> str:
    return next(name for upper, name in TEMPO_BUCKETS if bpm < upper)


def gm_family(program: int) -> str:
    return GM_FAMILIES[program // 8]


def chord_chart(tonic: str, mode: str, genre: str, bars: int, rng: np.random.Generator) -> list[str]:
    """`bars` chord names (sharps) of a seeded chart in the key."""
    if genre == "blues":
        charts = BLUES_MAJOR if mode == "major" else BLUES_MINOR
    else:
        charts = MAJOR_CHARTS if mode == "major" else MINOR_CHARTS
    chart = charts[int(rng.integers(len(charts)))]
    root = PITCH_CLASSES.index(tonic)
    return [
        PITCH_CLASSES[(root + chart[i % len(chart)][0]) % 12] + chart[i % len(chart)][1] for i in range(bars)
    ]


KEYSIG_SPELLING = {
    "D# major": "Eb major",
    "G# major": "Ab major",
    "A# major": "Bb major",
}  # mma rejects these
# (and Db/Gb minor, which never occur here: minor keys are spelled C#/F# minor)


def mma_script(
    groove: str, tonic: str, mode: str, bpm: int, seed: int, drums: bool, chords: list[str]
) -> str:
    keysig = KEYSIG_SPELLING.get(f"{tonic} {mode}", f"{tonic} {mode}")
    lines = [f"Tempo {bpm}", f"KeySig {keysig}", f"RndSeed {seed}", f"Groove {groove}"]
    if not drums:
        lines.append("AllTracks Drum Off")
    lines += [f"{i + 1} {c}" for i, c in enumerate(chords)]
    return "\n".join(lines) + "\n"


def run_mma(script: str) -> bytes:
    """MIDI bytes that mma writes for `script`."""
    if shutil.which("mma") is None:
        raise M2L2Error(
            "the tags part needs mma (Musical MIDI Accompaniment): run scripts/install_system_deps.sh "
            "or: sudo apt-get install -y --no-install-recommends mma"
        )
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "clip.mma", Path(tmp) / "clip.mid"
        src.write_text(script, encoding="utf-8")
        # relative names: mma writes the input file name into the MIDI, which must not depend on the temp dir
        r = subprocess.run(["mma", "-f", out.name, src.name], capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0 or not out.is_file():
            said = " ".join((r.stdout + r.stderr)[-600:].split()) or f"exit status {r.returncode}"
            raise M2L2Error(
                f"mma failed, {said} (mma script: {'; '.join(script.splitlines())}): check that mma runs "
                "here, or reinstall it with scripts/install_system_deps.sh"
            )
        return out.read_bytes()


def midi_labels(blob: bytes, seconds: float) -> dict:
    """Labels read back from the MIDI: instrument families and drums (from notes before `seconds`), tempo."""
    m = read_midi(blob)
    program: dict[int, int] = {}
    families, drums = set(), False
    for t, ch, kind, a, _ in sorted(m.events, key=lambda e: e[0]):
        if t >= seconds:
            break
        if kind == "program":
            program[ch] = a
        elif kind == "on":
            if ch == 9:
                drums = True
            else:
                families.add(gm_family(program.get(ch, 0)))
    return {
        "instrument_families": sorted(families),
        "drums": drums,
        "tempo": round(m.tempos[0][1]) if m.tempos else 120,
    }


def midi_events(blob: bytes) -> list[Event]:
    """Renderer events (programs and controllers before note-offs before note-ons at equal times)."""
    order = {"program": 0, "cc": 0, "off": 1, "on": 2}
    return [Event(t, order[kind], kind, ch, a, b) for t, ch, kind, a, b in read_midi(blob).events]


def clip_recipe(groove: str, genre: str, j: int) -> dict:
    """Everything random about clip j of a groove, from its own seed."""
    rng = np.random.default_rng([SEED, zlib.crc32(groove.encode()), j])
    key = KEYS[int(rng.integers(len(KEYS)))]
    tonic, mode = key.split()
    lo, hi = GENRES[genre][1]
    bpm = int(rng.integers(lo, hi + 1))
    drums = bool(rng.random() >= NO_DRUMS_FRACTION)
    seed = int(rng.integers(1, 1_000_000))
    bars = math.ceil((CLIP_S + 1.0) * bpm / 60.0 / 2) + 1  # at least two beats per bar in these grooves
    chords = chord_chart(tonic, mode, genre, bars, rng)
    return {
        "key": key,
        "tonic": tonic,
        "mode": mode,
        "bpm": bpm,
        "drums": drums,
        "seed": seed,
        "script": mma_script(groove, tonic, mode, bpm, seed, drums, chords),
    }


def _job(ctx: Context, pkg: str, genre: str, groove: str, clip_ids: list[int], splits: dict[str, str]) -> Job:
    sf_rel, sf_name = SOUNDFONTS[pkg]

    def run():
        recipes = [clip_recipe(groove, genre, j) for j in clip_ids]
        blobs = [run_mma(r["script"]) for r in recipes]
        renderer = Renderer(ctx.sources[pkg].tree / sf_rel, gain=0.3)
        audio = renderer.render_many([(midi_events(b), CLIP_S) for b in blobs])
        renderer.close()
        files, rows = [], []
        for j, r, blob, x in zip(clip_ids, recipes, blobs, audio):
            cid = f"{groove}-{j}"
            labels = midi_labels(blob, CLIP_S)
            mono = x.mean(axis=0, keepdims=True)
            fade = int(0.5 * SR)
            mono[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            mono *= 0.89 / max(float(np.abs(mono).max()), 1e-6)
            files.append(ctx.write_audio(f"tags/audio/{cid}.flac", mono, SR))
            midi_rel = f"tags/midi/{cid}.mid"
            (ctx.root / midi_rel).parent.mkdir(parents=True, exist_ok=True)
            (ctx.root / midi_rel).write_bytes(blob)
            files.append(midi_rel)
            tags = [
                f"genre:{genre}",
                *(f"instrument:{f}" for f in labels["instrument_families"]),
                "drums" if labels["drums"] else "no drums",
                f"tempo:{tempo_bucket(labels['tempo'])}",
                f"mode:{r['mode']}",
            ]
            rows.append(
                {
                    "id": cid,
                    "path": f"audio/{cid}.flac",
                    "midi_path": f"midi/{cid}.mid",
                    "split": splits[cid],
                    "tags": tags,
                    "genre": genre,
                    "groove": groove,
                    "instrument_families": labels["instrument_families"],
                    "drums": "yes" if labels["drums"] else "no",
                    "key": r["key"],
                    "tonic": r["tonic"],
                    "mode": r["mode"],
                    "tempo": labels["tempo"],
                    "tempo_bucket": tempo_bucket(labels["tempo"]),
                    "soundfont": sf_name,
                    "duration_s": CLIP_S,
                }
            )
        return files, rows

    return Job(f"{groove}-{sf_name}", run, group=pkg)


def plan(small: bool) -> list[tuple[str, str]]:
    """(genre, groove) pairs to render: all 46, or one groove of three families when small."""
    pairs = [(g, groove) for g, (grooves, _) in GENRES.items() for groove in grooves]
    return [pairs[0], pairs[6], pairs[-1]] if small else pairs


def jobs(ctx: Context) -> list[Job]:
    pairs = plan(ctx.small)
    n = 2 if ctx.small else CLIPS_PER_GROOVE
    splits = stratified_split(
        {f"{groove}-{j}": genre for genre, groove in pairs for j in range(n)}, seed=SEED
    )
    sfs = packages(ctx.small)
    out = []
    for genre, groove in pairs:
        for k, pkg in enumerate(sfs):  # clips alternate between the soundfonts
            ids = [j for j in range(n) if j % len(sfs) == k]
            out.append(_job(ctx, pkg, genre, groove, ids, splits))
    return out


def vocabulary(rows: list[dict]) -> list[str]:
    """Tags that occur, sorted."""
    return sorted({t for r in rows for t in r["tags"]})


def extra_files(rows: list[dict], ctx: Context) -> list[str]:
    """tags/vocabulary.txt: the tag vocabulary, one per line."""
    rel = "tags/vocabulary.txt"
    (ctx.root / rel).write_text("\n".join(vocabulary(rows)) + "\n", encoding="utf-8")
    return [rel]


def card(rows: list[dict], ctx: Context) -> str:
    vocab = vocabulary(rows)
    counts = {t: sum(t in r["tags"] for r in rows) for t in vocab}
    lines = [
        "# m2l2 default suite: tags (MagnaTagATune-like)",
        "",
        f"{len(rows)} clips, mono, 44.1 kHz, {CLIP_S:.0f} s, with their MIDI (midi/). Multi-label: "
        f"{len(vocab)} tags (vocabulary.txt) of genre family, GM instrument families present, drums / no drums, "
        "tempo bucket (slow < 90 bpm <= medium < 130 bpm <= fast) and mode; columns also give key and bpm.",
        "Made with mma (Musical MIDI Accompaniment): 46 grooves in 9 genre families, a seeded chord chart in a "
        f"seeded key and tempo, `RndSeed` per clip, drums switched off in about {NO_DRUMS_FRACTION:.0%} of the "
        "clips; labels are read back from the MIDI. Split by clip, stratified by genre family (80/10/10).",
        "",
        "| tag | clips |",
        "|---|---|",
        *(f"| {t} | {counts[t]} |" for t in vocab),
        "",
    ]
    lines += ctx.sources_table(
        "| mma grooves | (Debian package mma) | GPL-2+ | Musical MIDI Accompaniment, Bob van der Poel |"
    )
    return "\n".join(lines) + "\n"
