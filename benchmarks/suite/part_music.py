"""music-eval / music-train: 10-s stereo 44.1 kHz clips of real recorded music from Debian game soundtracks.

Clips start at seeded candidate positions between 15 % and 85 % of each track; quiet candidates are skipped.
The split is by track (a track's clips are all in eval or all in train), stratified by source package.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.suite.build import Context, Job

RECIPE_VERSION = "1"
PACKAGES = [
    "wesnoth-1.16-music",
    "ufoai-music",
    "nexuiz-music",
    "fretsonfire-songs-muldjord",
    "fretsonfire-songs-sectoid",
]
SMALL_PACKAGES = ["wesnoth-1.16-music"]


def packages(small: bool) -> list[str]:
    return SMALL_PACKAGES if small else PACKAGES


COLUMNS = ["id", "path", "split", "source", "track", "start_s", "duration_s"]
SR = 44100
CLIP_S = 10.0
MIN_TRACK_S = 30.0
CLIPS_PER_TRACK = 2
N_CANDIDATES = 8
MIN_RMS_DB = -35.0
EVAL_FRACTION = 0.5
SEED = 20240501
LICENCE_NOTE = "clips keep the licence of their source track (see sources)"


@dataclass(frozen=True)
class Track:
    id: str
    source: str
    open_stems: Callable[[], list[sf.SoundFile]]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _file_opener(paths: list[Path]):
    return lambda: [sf.SoundFile(str(p)) for p in paths]


def _zip_opener(zpath: Path, member: str):
    def open_():
        with zipfile.ZipFile(zpath) as z:
            return [sf.SoundFile(io.BytesIO(z.read(member)))]

    return open_


def list_tracks(ctx: Context, packages: list[str]) -> list[Track]:
    tracks = []
    for pkg in packages:
        tree = ctx.sources[pkg].tree
        short = pkg.split("-")[0]
        if pkg.startswith("fretsonfire"):
            for song in sorted(p.parent for p in tree.rglob("song.ogg")):
                stems = sorted(p for p in song.glob("*.ogg") if p.stem in ("song", "guitar", "rhythm"))
                tracks.append(Track(f"{short}-{_slug(song.name)}", pkg, _file_opener(stems)))
        elif pkg.endswith("music") and any(tree.rglob("*.pk3")):
            for zpath in sorted(tree.rglob("*.pk3")):
                with zipfile.ZipFile(zpath) as z:
                    for member in sorted(n for n in z.namelist() if n.endswith(".ogg")):
                        tracks.append(
                            Track(f"{short}-{_slug(Path(member).stem)}", pkg, _zip_opener(zpath, member))
                        )
        else:
            for p in sorted(tree.rglob("*.ogg")):
                if p.stem != "silence":
                    tracks.append(Track(f"{short}-{_slug(p.stem)}", pkg, _file_opener([p])))
    return tracks


def assign_splits(tracks: list[Track]) -> dict[str, str]:
    """Seeded split by track, half of each source's tracks in eval."""
    out = {}
    rng = np.random.default_rng(SEED)
    for pkg in sorted({t.source for t in tracks}):
        ids = sorted(t.id for t in tracks if t.source == pkg)
        order = rng.permutation(len(ids))
        n_eval = int(round(EVAL_FRACTION * len(ids)))
        for rank, i in enumerate(order):
            out[ids[i]] = "eval" if rank < n_eval else "train"
    return out


def _read_window(stems: list[sf.SoundFile], start: int, frames: int) -> np.ndarray:
    mix = np.zeros((2, frames), dtype=np.float64)
    for f in stems:
        f.seek(start)
        x = f.read(frames, dtype="float32", always_2d=True).T
        if x.shape[0] == 1:
            x = np.repeat(x, 2, axis=0)
        mix[:, : x.shape[1]] += x[:2]
    peak = np.abs(mix).max()
    if peak > 0.98:  # summed stems can clip: limit the peak
        mix *= 0.98 / peak
    return mix.astype(np.float32)


def _clip_track(ctx: Context, track: Track, split: str, n_clips: int):
    def run():
        stems = track.open_stems()
        try:
            if any(f.samplerate != SR for f in stems):
                return [], []
            n = min(f.frames for f in stems)
            if n < MIN_TRACK_S * SR:
                return [], []
            frames = int(CLIP_S * SR)
            starts = np.linspace(0.15 * n, min(0.85 * n, n - frames), N_CANDIDATES).astype(np.int64)
            rng = np.random.default_rng(zlib.crc32(track.id.encode()) + SEED)
            files, rows = [], []
            for start in starts[rng.permutation(N_CANDIDATES)]:
                clip = _read_window(stems, int(start), frames)
                rms_db = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) + 1e-20)
                if rms_db < MIN_RMS_DB:
                    continue
                cid = f"{track.id}-{len(files)}"
                rel = ctx.write_audio(f"music/{split}/{cid}.flac", clip, SR)
                files.append(rel)
                rows.append(
                    {
                        "id": cid,
                        "path": f"{split}/{cid}.flac",
                        "split": split,
                        "source": track.source,
                        "track": track.id,
                        "start_s": round(int(start) / SR, 3),
                        "duration_s": CLIP_S,
                    }
                )
                if len(files) == n_clips:
                    break
            return files, rows
        finally:
            for f in stems:
                f.close()

    return run


def jobs(ctx: Context) -> list[Job]:
    tracks = list_tracks(ctx, packages(ctx.small))
    if ctx.small:
        tracks = tracks[:4]
    splits = assign_splits(tracks)
    n_clips = 1 if ctx.small else CLIPS_PER_TRACK
    return [Job(t.id, _clip_track(ctx, t, splits[t.id], n_clips)) for t in tracks]


def card(rows: list[dict], ctx: Context) -> str:
    lines = [
        "# m2l2 default suite: music-eval / music-train",
        "",
        f"{len(rows)} clips of {CLIP_S:.0f} s, stereo, 44.1 kHz, 16-bit FLAC, cut from real recorded music in "
        "Debian packages (game soundtracks: orchestral, ambient, electronic, metal, live guitars).",
        f"Split by track (never by clip): eval {sum(r['split'] == 'eval' for r in rows)} clips, "
        f"train {sum(r['split'] == 'train' for r in rows)} clips.",
        "",
        "**All sources are lossy (Ogg Vorbis): energy above roughly 16–19 kHz is missing.** High-band "
        "reconstruction metrics on these clips therefore say little; compare models only with each other here.",
        "",
        "Clip selection: tracks at 44.1 kHz and at least 30 s long; up to two clips per track from 8 evenly spaced "
        "candidate starts between 15 % and 85 % of the track, visited in a seeded order, skipping candidates below "
        "-35 dBFS RMS. Frets on Fire songs are the sum of their stems with peaks limited to -0.2 dBFS.",
        "",
        "| source package | version | licence | attribution | clips |",
        "|---|---|---|---|---|",
    ]
    for pkg, f in ctx.sources.items():
        n = sum(r["source"] == pkg for r in rows)
        lines.append(f"| {pkg} | {f.version} | {f.source.licence} | {f.source.attribution} | {n} |")
    return "\n".join(lines) + "\n"
