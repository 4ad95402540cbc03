"""speech: real recorded English speech for an out-of-domain check (Asterisk prompts, KLettres letters)."""

from __future__ import annotations

import numpy as np

from benchmarks.suite.build import Context, Job
from m2l2.audio import load_audio

RECIPE_VERSION = "1"
COLUMNS = ["id", "path", "split", "source", "speaker", "text_id", "duration_s"]
PACKAGES = ["asterisk-core-sounds-en-g722", "klettres-data"]
N_PROMPTS, N_LETTERS, MIN_S = 120, 26, 1.5
LICENCE_NOTE = "recordings keep the licence of their package"


def packages(small: bool) -> list[str]:
    return PACKAGES


def _job(ctx: Context, pkg: str, rel_paths: list, prefix: str, speaker: str, limit: int) -> Job:
    def run():
        files, rows = [], []
        tree = ctx.sources[pkg].tree
        for rel in rel_paths:
            if len(files) == limit:
                break
            x, sr = load_audio(tree / rel, channels=1)  # G.722 and Vorbis: PyAV / soundfile
            if x.shape[1] < MIN_S * sr and prefix == "asterisk":
                continue
            peak = float(np.abs(x).max())
            if peak > 0.99:
                x = x * (0.99 / peak)
            cid = f"{prefix}-{rel.stem.replace('.', '_')}"
            files.append(ctx.write_audio(f"speech/audio/{cid}.flac", x, sr))
            rows.append(
                {
                    "id": cid,
                    "path": f"audio/{cid}.flac",
                    "split": "eval",
                    "source": pkg,
                    "speaker": speaker,
                    "text_id": rel.stem,
                    "duration_s": round(x.shape[1] / sr, 3),
                }
            )
        return files, rows

    return Job(prefix, run)


def jobs(ctx: Context) -> list[Job]:
    ast = ctx.sources["asterisk-core-sounds-en-g722"].tree
    prompts = sorted(
        p.relative_to(ast) for p in (ast / "usr/share/asterisk/sounds/en_US_f_Allison").glob("*.g722")
    )
    let = ctx.sources["klettres-data"].tree
    letters = sorted(p.relative_to(let) for p in (let / "usr/share/klettres/en/alpha").glob("*.ogg"))
    n_p, n_l = (4, 2) if ctx.small else (N_PROMPTS, N_LETTERS)
    rng = np.random.default_rng(3)
    prompts = [prompts[i] for i in sorted(rng.permutation(len(prompts))[: n_p * 2])]  # spare for short ones
    return [
        _job(ctx, "asterisk-core-sounds-en-g722", prompts, "asterisk", "Allison Smith", n_p),
        _job(ctx, "klettres-data", letters, "klettres", "klettres-en", n_l),
    ]


def card(rows: list[dict], ctx: Context) -> str:
    lines = [
        "# m2l2 default suite: speech",
        "",
        f"{len(rows)} mono clips of real recorded English speech at their native rates (Asterisk prompts: "
        "16 kHz G.722, i.e. no content above 7 kHz; KLettres letters: 44.1 kHz Vorbis). Split: eval only.",
        "",
        *ctx.sources_table(),
    ]
    return "\n".join(lines) + "\n"
