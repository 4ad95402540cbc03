"""music-train: full tracks of the music part's source packages for training, never a track of the eval
split or of the dev split (benchmarks.splits.music_dev).

Built after the `music` part, whose metadata names the eval and dev tracks; track ids come from the same
`list_tracks`, so the exclusion cannot miss a track through spelling. Full tracks at 44.1 kHz, stereo,
16-bit FLAC; Frets on Fire songs are the sum of their stems with peaks limited as in the music part.
"""

from __future__ import annotations

import csv

import numpy as np

from benchmarks.splits.music_dev import dev_tracks
from benchmarks.suite.build import Context, Job
from benchmarks.suite.part_music import MIN_TRACK_S, PACKAGES, SMALL_PACKAGES, SR, Track, list_tracks
from m2l2.errors import M2L2Error

RECIPE_VERSION = "1"
COLUMNS = ["id", "path", "source", "track", "duration_s"]
LICENCE_NOTE = "tracks keep the licence of their source package (see sources)"
BLOCK = 1 << 20  # frames read at a time when summing stems


def packages(small: bool) -> list[str]:
    return SMALL_PACKAGES if small else PACKAGES


def held_out_tracks(ctx: Context) -> set[str]:
    """Eval and dev track ids, from the music part's metadata (which must be built first)."""
    meta = ctx.root / "music" / "metadata.csv"
    if not meta.is_file():
        raise M2L2Error(
            f"part music-train needs the music part's metadata ({meta}): build it first with "
            "`m2l2 data build --parts music,music-train`"
        )
    with open(meta, newline="") as f:
        rows = list(csv.DictReader(f))
    eval_tracks = {r["track"] for r in rows if r["split"] == "eval"}
    return eval_tracks | dev_tracks(r["track"] for r in rows if r["split"] == "train")


def _read_track(track: Track) -> np.ndarray | None:
    """The whole track as [2, N] float32 (stems summed, peaks limited), or None below 44.1 kHz / 30 s."""
    stems = track.open_stems()
    try:
        if any(f.samplerate != SR for f in stems):
            return None
        n = min(f.frames for f in stems)
        if n < MIN_TRACK_S * SR:
            return None
        mix = np.zeros((2, n), dtype=np.float32)
        for f in stems:
            f.seek(0)
            x = f.read(n, dtype="float32", always_2d=True).T
            mix += x[:2] if x.shape[0] >= 2 else np.repeat(x, 2, axis=0)
    finally:
        for f in stems:
            f.close()
    peak = float(np.abs(mix).max())
    if peak > 0.98:
        mix *= 0.98 / peak
    return mix


def _write_track(ctx: Context, track: Track):
    def run():
        audio = _read_track(track)
        if audio is None:
            return [], []
        rel = ctx.write_audio(f"music-train/{track.id}.flac", audio, SR)
        row = {"id": track.id, "path": f"{track.id}.flac", "source": track.source, "track": track.id,
               "duration_s": round(audio.shape[1] / SR, 3)}
        return [rel], [row]

    return run


def jobs(ctx: Context) -> list[Job]:
    held = held_out_tracks(ctx)
    tracks = list_tracks(ctx, packages(ctx.small))
    known = {t.id for t in tracks}
    unknown = held - known
    if unknown and not ctx.small:
        raise M2L2Error(
            f"music-train: {len(unknown)} held-out track(s) of the music part, e.g. {sorted(unknown)[0]}, "
            f"are not in the packages ({ctx.root / 'music' / 'metadata.csv'}): rebuild the music part with "
            "the same package versions"
        )
    return [Job(t.id, _write_track(ctx, t)) for t in tracks if t.id not in held]


def card(rows: list[dict], ctx: Context) -> str:
    hours = sum(float(r["duration_s"]) for r in rows) / 3600
    lines = [
        "# m2l2 training corpus: music-train",
        "",
        f"{len(rows)} full tracks, {hours:.2f} h, stereo, 44.1 kHz, 16-bit FLAC, from the source packages of the "
        "music part. Every track of the music part's eval split and of its dev split (every 8th training "
        "track, benchmarks/splits/music_dev.py) is left out, so training on this folder never sees a clip "
        "that the tables or the recipe decisions score. Tracks below 44.1 kHz or shorter than 30 s are left "
        "out. All sources are lossy (Ogg Vorbis): energy above roughly 16–19 kHz is missing.",
        "",
        "| source package | version | licence | attribution | tracks | hours |",
        "|---|---|---|---|---|---|",
    ]
    for pkg, f in ctx.sources.items():
        mine = [r for r in rows if r["source"] == pkg]
        h = sum(float(r["duration_s"]) for r in mine) / 3600
        lines.append(f"| {pkg} | {f.version} | {f.source.licence} | {f.source.attribution} | {len(mine)} | {h:.2f} |")
    return "\n".join(lines) + "\n"
