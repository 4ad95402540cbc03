"""Where `m2l2 tables` spends its time beyond the models' forward passes, on the test suite's scale.

    python scripts/profile_tables.py [--workdir DIR] [--clips 4] [--seconds 3.5] [--runs 2] [--top 25]
                                     [--only table2,fig3] [--stats FILE]

Builds the miniature configuration the tests use (micro random-weights Music2Latent2 checkpoints of both
latent kinds, `allow_random: true`, tone clips; Identity and Opus as the other rows; SI-SDR, ViSQOL and
FAD-MusiCNN), runs `m2l2 tables` on it under cProfile `--runs` times (the first computes everything, later
ones reuse it) and prints, per run, the time by category (model forward passes, audio decoding, resampling,
codecs, ViSQOL, hashing, cache and result I/O, progress bars, thread settings, git) and the functions with
the most time of their own. `--stats` keeps the raw profile of the first run (`python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import m2l2  # before torch: m2l2 sets OpenMP's passive wait policy (m2l2.threads)

MICRO = ["model.level_channels=[4,8,8,16,16]", "model.dim=16", "model.depth=1", "model.norm_groups=4",
         "model.heads=2", "model.chunk_frames=16"]  # the test suite's micro model (tests/conftest.py)

# (category, substrings of "file:function") checked in order; a function's own time goes to the first match.
CATEGORIES = (
    ("model forward", ("torch/nn/modules", "torch/nn/functional", "m2l2/model.py", "m2l2/layers.py",
                       "m2l2/spectral.py", "m2l2/edm.py", "m2l2/decoding.py", "torch/_ops",
                       "~:<built-in method torch", "TensorBase", "torch._C")),
    ("ViSQOL", ("visqol",)),
    ("waiting for worker processes", ("'acquire' of '_thread.lock'",)),
    ("resampling", ("soxr",)),
    ("audio decoding", ("soundfile", "m2l2/audio.py")),
    ("codecs (Opus/MP3)", ("baselines/adapters/codec", "baselines/codecs", "subprocess", "av.", "/av/")),
    ("hashing", ("hashlib", "sha256")),
    ("FAD / bootstrap", ("frechet", "bootstrap", "scipy/linalg", "numpy/linalg")),
    ("embedders", ("benchmarks/embedders",)),
    ("result and cache I/O", ("json", "benchmarks/store.py", "m2l2/io.py", "safetensors", "<built-in method io",
                              "<method 'read'", "<method 'write'", "posix", "pathlib")),
    ("figures", ("matplotlib", "fontTools", "PIL")),
    ("progress bars", ("tqdm",)),
    ("thread settings", ("set_num_threads", "threadpoolctl", "m2l2/threads.py")),
    ("git (provenance)", ("provenance.py",)),
    ("imports", ("importlib", "<frozen", "marshal", "builtins.compile", "builtins.exec")),
)


def write_setup(root: Path, clips: int, seconds: float, only: list[str]) -> Path:
    """Micro checkpoints, tone clips and the YAML configuration under `root`; returns the YAML path."""
    import torch
    import yaml

    from m2l2.audio import save_audio
    from m2l2.checkpoint import save_checkpoint

    ckpts = {}
    for kind in ("summary", "ordered"):
        torch.manual_seed(0)
        model = m2l2.build("tiny", [*MICRO, f"model.latent_kind={kind}"])
        ckpts[kind] = root / f"ckpt-{kind}"
        save_checkpoint(ckpts[kind], 0, model.state_dict(), config={"model": model.config.to_dict()})
    sr, rng = 22050, np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    for i in range(clips):
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * (i + 1) * t))
        noise = 0.05 * rng.standard_normal(t.size)
        save_audio(root / "clips" / f"clip{i}.flac", np.stack([tone + noise, tone - noise]).astype(np.float32), sr)
    m2l2_opts = {"sigma_cond": 0.4, "max_batch": 8}
    config = {
        "name": "mini",
        "dataset": {"name": "folder", "root": str(root / "clips"), "split": None},
        "cache_dir": str(root / "cache"), "output_dir": str(root / "out"), "allow_random": True,
        "models": [
            {"name": "identity", "label": "Identity", "kind": "reference", "options": {"channels": 2}},
            {"name": "opus-11kbps", "label": "Opus 11 kbps", "kind": "codec"},
            {"name": "music2latent2", "label": "Micro summary",
             "options": {"checkpoint": str(ckpts["summary"]), **m2l2_opts}},
            {"name": "music2latent2-ordered", "label": "Micro ordered",
             "options": {"checkpoint": str(ckpts["ordered"]), **m2l2_opts}},
        ],
        "metrics": ["sisdr", "visqol", "fad-musicnn"],
        "eval": {"n_boot": 200, "fad_n_boot": 10, "batch": 4},
        "fig3": {"sigma_cond": [0.0, 0.4], "models": ["Micro summary"], "one_step": True, "parallel": [0.4]},
        "table1": {"summary": "Micro summary", "ordered": "Micro ordered"},
        "seams": {"models": ["Micro summary"]},
        "speed": {"seconds": 2.0, "repeats": 1, "models": ["Identity", "Micro summary"]},
    }
    path = root / "mini.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def categorise(stats: pstats.Stats) -> dict[str, float]:
    """Own time (tottime) of every profiled function, summed by category."""
    out: dict[str, float] = {}
    for (file, _, func), (_, _, tottime, _, _) in stats.stats.items():
        where = f"{file}:{func}"
        name = next((c for c, keys in CATEGORIES if any(k in where for k in keys)), "other Python")
        out[name] = out.get(name, 0.0) + tottime
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def profile_run(config: Path, only: list[str], top: int, stats_file: str | None) -> float:
    from m2l2.cli import main

    argv = ["tables", "--config", str(config), "--no-progress"] + (["--only", ",".join(only)] if only else [])
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    code = main(argv)
    prof.disable()
    wall = time.perf_counter() - start
    if code != 0:
        print(f"m2l2 tables exited with {code}", file=sys.stderr)
    if stats_file:
        prof.dump_stats(stats_file)
    stats = pstats.Stats(prof)
    print(f"\nwall {wall:.1f} s; own time by category (cProfile; child processes such as ViSQOL workers and "
          "codec programs are seen as the parent's waiting time):")
    for name, seconds in categorise(stats).items():
        print(f"  {name:30s} {seconds:8.2f} s")
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[-(top + 3) * 120:])
    return wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=None, help="keep the set-up and results here (default: a temp folder)")
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--seconds", type=float, default=3.5)
    p.add_argument("--runs", type=int, default=2, help="1: compute everything; 2+: also a rerun that reuses it")
    p.add_argument("--only", default="", help="comma-separated experiments (default: all but table3)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--stats", default=None, help="write the first run's raw profile here")
    args = p.parse_args(argv)
    only = [x for x in args.only.split(",") if x] or ["table2", "table1", "fig3", "seams", "speed"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        config = write_setup(root, args.clips, args.seconds, only)
        for run in range(args.runs):
            print(f"\n===== run {run + 1} of {args.runs} ({'computes' if run == 0 else 'reuses'}) =====")
            profile_run(config, only, args.top, args.stats if run == 0 else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
