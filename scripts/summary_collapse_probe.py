"""Does the tiny summary model's latent collapse depend on the training noise distribution?

usage: python scripts/summary_collapse_probe.py train P_MEAN RUN_DIR     # tiny from scratch, P_mean overridden
       python scripts/summary_collapse_probe.py measure RUN_DIR [...]   # latent spread over clips per checkpoint

`train` trains `tiny` on the suite's music/train with the lognormal σ sampling centred at P_MEAN (upstream:
-1.1) and a checkpoint every 250 steps (stop it with `touch RUN_DIR/STOP`). `measure` encodes 3 s of 8 eval
clips with each checkpoint's EMA weights and prints the latents' standard deviation across clips (mean over
latent entries): near 0 means that the latents no longer depend on the input.
"""

from __future__ import annotations

import glob
import math
import sys
from pathlib import Path

import torch

import m2l2
from m2l2 import edm
from m2l2.audio import load_audio
from m2l2.cli import main as m2l2_main

SUITE = Path.home() / ".cache/m2l2/suite"


def train(p_mean: float, run_dir: str) -> None:
    edm._T_WEIGHTS = torch.exp(-0.5 * ((edm._LOGN - p_mean) / edm.P_STD) ** 2) / (edm.P_STD * math.sqrt(2 * math.pi))
    m2l2_main(["train", "tiny", "--run-dir", run_dir, "--set", f"train.data={SUITE}/music/train",
               "train.total_steps=6000", "train.checkpoint_every=250", "train.checkpoint_minutes=0",
               "train.keep_last=0", "train.log_every=50", "train.num_workers=1", "train.progress=false",
               "train.ema_decay=0.995"])


def latent_spread(checkpoint: str, clips: list[torch.Tensor]) -> float:
    model = m2l2.load(checkpoint).eval()
    with torch.no_grad():
        z = torch.stack([model.encode(c[None])[0][:3] for c in clips])
    return float(z.std(0).mean())


def measure(run_dirs: list[str]) -> None:
    files = sorted((SUITE / "music/eval").glob("*.flac"))[::12][:8]
    clips = [torch.from_numpy(load_audio(f, sample_rate=44_100)[0].mean(0, keepdims=True)[:, : 3 * 44_100])
             for f in files]
    for run in run_dirs:
        points = [(int(Path(p).stem[5:]), latent_spread(p, clips))
                  for p in sorted(glob.glob(f"{run}/checkpoints/step-*.json"))]
        print(run, " ".join(f"{step}:{spread:.2g}" for step, spread in points))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(float(sys.argv[2]), sys.argv[3])
    else:
        measure(sys.argv[2:])
