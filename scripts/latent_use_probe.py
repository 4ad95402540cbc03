"""Do a checkpoint's latents carry information, and do its decoders use it?

usage: python scripts/latent_use_probe.py measure CHECKPOINT_OR_RUN_DIR [...]  # one row per checkpoint
       python scripts/latent_use_probe.py train P_MEAN RUN_DIR   # tiny from scratch with P_mean overridden

`measure` takes 8 `music/eval` clips (1.5 s each: one two-chunk training item) and prints, for each checkpoint
(EMA weights; a run folder means every checkpoint in it):
- spread: the latents' standard deviation across clips (mean over latent entries); near 0 means that the
  encoder output no longer depends on the input (the collapse of the first tiny summary model);
- for σ in 1, 5, 80: the relative error of the consistency model's output magnitude, given the noisy chunk
  and its own latents, and given another clip's latents. Equal numbers mean that the latents are ignored;
- head (models with a magnitude head): relative error of the head's magnitude prediction with own and with
  another clip's latents, and of the per-bin mean magnitude over these clips (the best latent-free guess).

`train` repeats the session-2 test of the noise distribution: `tiny` without the magnitude head on the
suite's music/train, with the lognormal σ sampling centred at P_MEAN (upstream: -1.1), a checkpoint every
250 steps.
"""

from __future__ import annotations

import glob
import math
import sys
from pathlib import Path

import torch

import m2l2
from m2l2 import edm, spectral
from m2l2.audio import convert_channels, load_audio
from m2l2.cli import main as m2l2_main
from m2l2.consistency import split_chunks

SUITE = Path.home() / ".cache/m2l2/suite"
SIGMAS = (1.0, 5.0, 80.0)


def eval_items(model: m2l2.Music2Latent2, clips: int = 8) -> torch.Tensor:
    """[clips, 2, 2C, 1024, frames]: one two-chunk item from 1 s into each of `clips` spread eval files."""
    files = sorted((SUITE / "music/eval").glob("*.flac"))
    if not files:
        sys.exit(f"no eval clips in {SUITE / 'music/eval'}: build the offline suite first (`make data`)")
    files = files[:: max(1, len(files) // clips)][:clips]
    waves = [convert_channels(load_audio(f, sample_rate=44_100)[0], model.channels) for f in files]
    audio = torch.stack([torch.from_numpy(w[:, 44_100 : 44_100 + model.train_samples]) for w in waves])
    return split_chunks(spectral.to_spec(audio), model.config.chunk_frames)


def relative_error(estimate: torch.Tensor, target: torch.Tensor) -> float:
    return float((estimate - target).pow(2).mean() / (target - target.mean()).pow(2).mean())


@torch.no_grad()
def probe(checkpoint: str) -> dict[str, float]:
    model = m2l2.load(checkpoint).eval()
    x = eval_items(model)
    b = len(x)
    latents = model.encoder(x.flatten(0, 1))
    shuffled = latents.view(b, 2, *latents.shape[1:]).roll(1, dims=0).flatten(0, 1)  # another clip's latents
    cross, cross_other = model.decoder(latents), model.decoder(shuffled)
    row = {"spread": float(latents.view(b, 2, -1)[:, 0].std(0).mean())}
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    magnitude = spectral.magnitude(x.flatten(0, 1))
    for s in SIGMAS:
        sigma = torch.full((b, 2), s)
        for key, c in (("own", cross), ("other", cross_other)):
            out = model.consistency(x + s * noise, sigma, c)
            row[f"sigma{s:g}_{key}"] = relative_error(spectral.magnitude(out.flatten(0, 1)), magnitude)
    if model.decoder.magnitude_head is not None:
        row["head_own"] = relative_error(model.decoder.magnitude(cross), magnitude)
        row["head_other"] = relative_error(model.decoder.magnitude(cross_other), magnitude)
        row["head_bin_mean"] = relative_error(magnitude.mean(dim=(0, 3), keepdim=True).expand_as(magnitude), magnitude)
    return row


def checkpoints(path: str) -> list[str]:
    found = sorted(glob.glob(f"{path}/checkpoints/step-*.json"))
    return found or [path]


def measure(paths: list[str]) -> None:
    for path in paths:
        for ck in checkpoints(path):
            row = probe(ck)
            print(ck, " ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)


def train(p_mean: float, run_dir: str) -> None:
    edm._T_WEIGHTS = torch.exp(-0.5 * ((edm._LOGN - p_mean) / edm.P_STD) ** 2) / (edm.P_STD * math.sqrt(2 * math.pi))
    m2l2_main(["train", "tiny", "--run-dir", run_dir, "--set", f"train.data={SUITE}/music/train",
               "train.total_steps=6000", "train.checkpoint_every=250", "train.checkpoint_minutes=0",
               "train.keep_last=0", "train.log_every=50", "train.num_workers=1", "train.progress=false",
               "train.ema_decay=0.995", "model.magnitude_head=false"])


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(float(sys.argv[2]), sys.argv[3])
    else:
        measure(sys.argv[2:])
