"""key (Beatport-like): Bach chorales from music21's corpus with verified keys, transposed to all 24 keys and
rendered with seeded ensembles and soundfonts, 20-30 s per clip, balanced per key.

A chorale is kept only when music21's key analysis, its key signature and its final bass note agree; that
check is slow, so its result ships as benchmarks/suite/data/chorales.json (see chorales.py). Every
chorale is rendered in two target keys of its mode; the split is by chorale so no piece is on both sides.
"""

from __future__ import annotations

import zlib

import numpy as np

from benchmarks.datasets.base import KEYS, PITCH_CLASSES
from benchmarks.splits.stratified import stratified_split
from benchmarks.suite.build import Context, Job
from benchmarks.suite.chorales import DATA_FILE, load_chorales, music21, verified_key  # noqa: F401
from benchmarks.suite.part_notes import SOUNDFONTS
from benchmarks.suite.synth import Event, Renderer
from m2l2.errors import M2L2Error

RECIPE_VERSION = "1"
COLUMNS = [
    "id",
    "path",
    "split",
    "key",
    "tonic",
    "mode",
    "chorale",
    "transpose",
    "ensemble",
    "soundfont",
    "tempo",
    "duration_s",
]
SR = 44100
SEED = 7
CLIPS_PER_KEY = 10
KEYS_PER_CHORALE = 2
MIN_S, MAX_S = 20.0, 30.0
LICENCE_NOTE = (
    "J. S. Bach chorales (public domain scores from the music21 corpus), rendered with the soundfonts"
)
ENSEMBLES = {  # soprano, alto, tenor, bass GM programs
    "strings": (40, 40, 41, 42),
    "winds": (73, 68, 71, 70),
    "brass": (56, 60, 57, 58),
    "organ": (19, 19, 19, 19),
    "piano": (0, 0, 0, 0),
    "choir": (52, 52, 52, 52),
    "sax": (64, 65, 66, 67),
}


def packages(small: bool) -> list[str]:
    return ["fluid-soundfont-gm"] if small else list(SOUNDFONTS)


def plan(ctx: Context) -> list[dict]:
    """Chorales to render with their target keys: the first of each mode in the shipped verified list."""
    n_per_mode = 2 if ctx.small else CLIPS_PER_KEY * 12 // KEYS_PER_CHORALE
    chosen = {
        mode: [dict(c) for c in load_chorales() if c["key"].endswith(mode)][:n_per_mode]
        for mode in ("major", "minor")
    }
    if any(len(v) < n_per_mode for v in chosen.values()):
        raise M2L2Error(
            f"too few chorales listed, {len(chosen['major'])} major and {len(chosen['minor'])} minor for "
            f"{n_per_mode} of each ({DATA_FILE}): regenerate it with `python -m benchmarks.suite.chorales`"
        )
    out = []
    n_keys = 1 if ctx.small else KEYS_PER_CHORALE
    for mode in ("major", "minor"):
        targets = [k for k in KEYS if k.endswith(mode)]
        for i, c in enumerate(chosen[mode]):
            c["targets"] = [targets[(i * n_keys + j) % 12] for j in range(n_keys)]
            out.append(c)
    return out


def transpose_shift(source: str, target: str) -> int:
    """Semitones in -6..+5 that move `source`'s tonic onto `target`'s."""
    d = (PITCH_CLASSES.index(target.split()[0]) - PITCH_CLASSES.index(source.split()[0])) % 12
    return d - 12 if d > 5 else d


def chorale_events(score, shift: int, programs: tuple[int, ...], bpm: float) -> list[Event]:
    spq = 60.0 / bpm
    events = []
    for ch, (part, prog) in enumerate(zip(score.parts, programs)):
        events.append(Event(0.0, 0, "program", ch, prog))
        for n in part.stripTies().flatten().notes:
            for p in n.pitches if hasattr(n, "pitches") else [n.pitch]:
                key = int(p.midi) + shift
                t0, t1 = float(n.offset) * spq, (float(n.offset) + float(n.quarterLength)) * spq
                events.append(Event(t0, 2, "on", ch, key, 80))
                events.append(Event(max(t0, t1 - 0.02), 1, "off", ch, key))
    return events


def _soundfont_of(ctx: Context, c: dict) -> str:
    rng = np.random.default_rng(zlib.crc32(c["name"].encode()) + SEED)  # the job's first draw
    sf_pkgs = packages(ctx.small)
    return sf_pkgs[int(rng.integers(len(sf_pkgs)))]


def _job(ctx: Context, c: dict, split: str) -> Job:
    def run():
        score = music21().corpus.parse("bach/" + c["path"])
        rng = np.random.default_rng(zlib.crc32(c["name"].encode()) + SEED)
        sf_pkgs = packages(ctx.small)
        pkg = sf_pkgs[int(rng.integers(len(sf_pkgs)))]
        sf_rel, sf_name = SOUNDFONTS[pkg]
        renderer = Renderer(ctx.sources[pkg].tree / sf_rel, gain=0.35)
        clips, meta = [], []
        for target in c["targets"]:
            ens = sorted(ENSEMBLES)[int(rng.integers(len(ENSEMBLES)))]
            dur = float(rng.uniform(MIN_S, MAX_S))
            bpm = float(np.clip(c["quarters"] * 60.0 / dur, 50.0, 140.0))
            length = min(MAX_S, c["quarters"] * 60.0 / bpm + 1.0)
            shift = transpose_shift(c["key"], target)
            clips.append((chorale_events(score, shift, ENSEMBLES[ens], bpm), length))
            meta.append((target, shift, ens, round(bpm, 2), round(length, 3)))
        audio = renderer.render_many(clips)
        renderer.close()
        files, rows = [], []
        for x, (target, shift, ens, bpm, length) in zip(audio, meta):
            mono = x.mean(axis=0, keepdims=True)
            fade = int(0.5 * SR)
            mono[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            mono *= 0.89 / max(float(np.abs(mono).max()), 1e-6)
            cid = f"{c['name'].replace('.', '_')}-{target.replace(' ', '_').replace('#', 's')}"
            files.append(ctx.write_audio(f"key/audio/{cid}.flac", mono, SR))
            rows.append(
                {
                    "id": cid,
                    "path": f"audio/{cid}.flac",
                    "split": split,
                    "key": target,
                    "tonic": target.split()[0],
                    "mode": target.split()[1],
                    "chorale": c["name"],
                    "transpose": shift,
                    "ensemble": ens,
                    "soundfont": sf_name,
                    "tempo": int(round(bpm)),
                    "duration_s": length,
                }
            )
        return files, rows

    return Job(c["name"], run, group=_soundfont_of(ctx, c))


def jobs(ctx: Context) -> list[Job]:
    chorales = plan(ctx)
    splits = stratified_split({c["name"]: c["key"].split()[1] for c in chorales}, seed=SEED)
    return [_job(ctx, c, splits[c["name"]]) for c in chorales]


def card(rows: list[dict], ctx: Context) -> str:
    counts = {k: sum(r["key"] == k for r in rows) for k in KEYS}
    lines = [
        "# m2l2 default suite: key (Beatport-like)",
        "",
        f"{len(rows)} clips, mono, 44.1 kHz, {MIN_S:.0f}-{MAX_S:.0f} s, {min(counts.values())}-"
        f"{max(counts.values())} per key over the 24 keys (sharps).",
        "Sources: J. S. Bach chorales from the music21 corpus whose analysed key, key signature and final bass "
        "note agree; each is transposed by -6..+5 semitones to target keys and rendered with a seeded ensemble "
        "and soundfont. Split by chorale (stratified by mode, 80/10/10).",
        "",
    ]
    lines += ctx.sources_table(
        "| music21 corpus | (Python package) | BSD-3 (scores public domain) | J. S. Bach chorales |"
    )
    return "\n".join(lines) + "\n"
