"""notes (TinySOL-like): isolated notes of GM instruments from two recorded-sample soundfonts, plus the real
organ pipe notes of the GrandOrgue demo. Labels: instrument, family, MIDI pitch, pitch class.

Folds keep every sample on one side: a whole (soundfont, instrument) group, or an organ rank, goes to one fold,
and the two soundfonts' groups of an instrument sit two folds apart, so with "fold i valid, fold i+1 test" an
instrument is never absent from training.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from benchmarks.datasets.base import PITCH_CLASSES
from benchmarks.suite.build import Context, Job
from benchmarks.suite.synth import Event, Renderer
from m2l2.audio import load_audio

RECIPE_VERSION = "1"
COLUMNS = ["id", "path", "split", "instrument", "family", "midi", "pitch_class", "soundfont", "fold"]
SR = 44100
HOLD_S, RELEASE_S, VELOCITY = 2.0, 1.0, 100
MIN_RMS_DB = -60.0
N_FOLDS = 5
LICENCE_NOTE = "rendered from the listed soundfonts / organ samples; same licences apply"

# name, GM program, family, lowest and highest MIDI note of the real instrument
INSTRUMENTS = [
    ("Acoustic Grand Piano", 0, "Keyboards", 21, 108),
    ("Harpsichord", 6, "Keyboards", 29, 89),
    ("Marimba", 12, "Percussion", 45, 96),
    ("Nylon Guitar", 24, "Plucked strings", 40, 84),
    ("Harp", 46, "Plucked strings", 24, 103),
    ("Violin", 40, "Strings", 55, 100),
    ("Viola", 41, "Strings", 48, 88),
    ("Cello", 42, "Strings", 36, 76),
    ("Contrabass", 43, "Strings", 28, 55),
    ("Trumpet", 56, "Brass", 54, 86),
    ("Trombone", 57, "Brass", 40, 72),
    ("Tuba", 58, "Brass", 28, 58),
    ("French Horn", 60, "Brass", 34, 77),
    ("Alto Saxophone", 65, "Winds", 49, 81),
    ("Oboe", 68, "Winds", 58, 91),
    ("Bassoon", 70, "Winds", 34, 75),
    ("Clarinet", 71, "Winds", 50, 91),
    ("Flute", 73, "Winds", 60, 96),
]
SOUNDFONTS = {  # package → soundfont file inside it, short name
    "fluid-soundfont-gm": ("usr/share/sounds/sf2/FluidR3_GM.sf2", "fluidr3"),
    "musescore-general-soundfont": ("usr/share/sounds/sf3/MuseScore_General_Full.sf3", "musescore"),
}
ORGAN = "grandorgue-demo"
ORGAN_FEET = {"Octavin2": 24}  # a 2' stop sounds two octaves above the key; 8' stops at the key


def packages(small: bool) -> list[str]:
    return ["fluid-soundfont-gm"] if small else [*SOUNDFONTS, ORGAN]


def pitch_class(midi: int) -> str:
    return PITCH_CLASSES[midi % 12]


def _slug(text: str) -> str:
    return text.lower().replace(" ", "_")


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))


def _group_job(ctx: Context, pkg: str, inst: tuple, fold: int, step: int) -> Job:
    name, program, family, lo, hi = inst
    sf_rel, sf_name = SOUNDFONTS[pkg]

    def run():
        renderer = Renderer(ctx.sources[pkg].tree / sf_rel, gain=0.5)
        notes = list(range(lo, hi + 1, step))
        clips = [
            (
                [
                    Event(0.0, 0, "program", 0, program),
                    Event(0.0, 1, "on", 0, m, VELOCITY),
                    Event(HOLD_S, 0, "off", 0, m),
                ],
                HOLD_S + RELEASE_S,
            )
            for m in notes
        ]
        audio = renderer.render_many(clips)
        renderer.close()
        files, rows = [], []
        for m, x in zip(notes, audio):
            mono = x.mean(axis=0, keepdims=True)
            if _rms_db(mono) < MIN_RMS_DB:  # e.g. presets that are silent outside their sampled range
                continue
            cid = f"{sf_name}-{_slug(name)}-{m:03d}"
            files.append(ctx.write_audio(f"notes/audio/{cid}.flac", mono, SR))
            rows.append(
                {
                    "id": cid,
                    "path": f"audio/{cid}.flac",
                    "split": "",
                    "instrument": name,
                    "family": family,
                    "midi": m,
                    "pitch_class": pitch_class(m),
                    "soundfont": sf_name,
                    "fold": fold,
                }
            )
        return files, rows

    return Job(f"{sf_name}-{_slug(name)}", run, group=pkg)


def _organ_job(ctx: Context, rank: str, members: list[str], fold: int) -> Job:
    def run():
        orgue = next(ctx.sources[ORGAN].tree.rglob("*.orgue"))
        files, rows = [], []
        with zipfile.ZipFile(orgue) as z, tempfile.TemporaryDirectory() as tmp:
            for member in members:
                key = int(Path(member).stem.split("-")[0])
                midi = key + ORGAN_FEET.get(rank, 0)
                path = Path(tmp) / "note.wav"
                path.write_bytes(io.BytesIO(z.read(member)).getvalue())
                x, _ = load_audio(path, sample_rate=SR, channels=1)  # WavPack inside: PyAV decodes it
                x = x[:, : int((HOLD_S + RELEASE_S) * SR)]
                fade = int(0.05 * SR)
                x[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
                cid = f"organ-{rank.lower()}-{midi:03d}"
                files.append(ctx.write_audio(f"notes/audio/{cid}.flac", x, SR))
                rows.append(
                    {
                        "id": cid,
                        "path": f"audio/{cid}.flac",
                        "split": "",
                        "instrument": f"Organ {rank}",
                        "family": "Organ",
                        "midi": midi,
                        "pitch_class": pitch_class(midi),
                        "soundfont": "grandorgue-demo",
                        "fold": fold,
                    }
                )
        return files, rows

    return Job(f"organ-{rank}", run, group=ORGAN)


def jobs(ctx: Context) -> list[Job]:
    out = []
    if ctx.small:  # a few notes of two instruments, one soundfont
        for i, inst in enumerate(INSTRUMENTS[:2]):
            out.append(_group_job(ctx, "fluid-soundfont-gm", inst, i, step=12))
        return out
    for i, inst in enumerate(INSTRUMENTS):
        for j, pkg in enumerate(SOUNDFONTS):
            out.append(_group_job(ctx, pkg, inst, (i + 2 * j) % N_FOLDS, step=1))
    orgue = next(ctx.sources[ORGAN].tree.rglob("*.orgue"))
    with zipfile.ZipFile(orgue) as z:
        names = sorted(
            n
            for n in z.namelist()
            if n.endswith(".wav") and "/" in n and n[0].isupper() and not n.startswith(("Sounds/", "Images/"))
        )
    ranks = sorted({n.split("/")[0] for n in names})
    for i, rank in enumerate(ranks):
        out.append(_organ_job(ctx, rank, [n for n in names if n.startswith(rank + "/")], i % N_FOLDS))
    return out


def card(rows: list[dict], ctx: Context) -> str:
    insts = sorted({r["instrument"] for r in rows})
    lines = [
        "# m2l2 default suite: notes (TinySOL-like)",
        "",
        f"{len(rows)} isolated notes, mono, 44.1 kHz, 3 s ({HOLD_S:.0f} s held + {RELEASE_S:.0f} s release, "
        f"velocity {VELOCITY}, reverb and chorus off), {len(insts)} instruments.",
        "Rendered with FluidSynth from recorded-sample soundfonts; organ notes are the GrandOrgue demo's real "
        "pipe recordings (first 3 s, 50 ms fade). Notes below -60 dBFS RMS are dropped.",
        "Labels: instrument, family, MIDI pitch, pitch class. Folds 0-4: a (soundfont, instrument) group or "
        "an organ rank lies in one fold only; protocol: fold i validation, fold i+1 test, others train.",
        "",
    ]
    lines += ctx.sources_table()
    return "\n".join(lines) + "\n"
