"""Measured gates of consistency training: memorise one crop, then a handful, then generalise.

    python tools/training_gates.py 1 OUT --config tiny-ordered --steps 1000 [--set key=value ...]
    python tools/training_gates.py 2 OUT --config tiny --steps 3000
    python tools/training_gates.py rescore OUT     (score OUT/run's last checkpoint again, and its latent use)
    python tools/training_gates.py 3 OUT --config tiny-cpu-recipe --steps 6000   (resumable)
    python tools/training_gates.py dev OUT --checkpoint CKPT   (score any checkpoint on the dev clips)

Gate 1 trains on one fixed crop of exactly two chunks (a folder holding one file of that length, so every
random crop is that crop) and scores the reconstruction of that same crop; gate 2 does the same with
`--crops` (default 8) crops of different training files. Gate 3 trains on the `music/train` tracks outside
the dev split (every 8th track, `dev_split`), logs the reconstruction probe on dev clips, and scores the EMA
weights on every dev clip (never trained on), beside an unrelated clip's scores (clip i against clip i+1). Scoring: one-step decoding (every chunk from σ_max,
no re-decoding) and the default two-step decoding; SI-SDR, the dynamics correlation, output/input RMS, and
the denoising error of the consistency model at fixed noise levels (where along σ a recipe fails).
Writes OUT/gate.json and the training run in OUT/run. Crops come from `music/train` of the suite, never
from the eval clips of the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from diagnostics import latent_use, magnitude_only_scores

from m2l2 import spectral
from m2l2.audio import load_audio, save_audio
from m2l2.training.recon import memorisation_scores as score
from m2l2.training.recon import ode_scores


def suite_train_folder() -> Path:
    from benchmarks.datasets.suite import default_root

    folder = default_root() / "music" / "train"
    if not folder.is_dir():
        sys.exit(f"{folder} not found: build the suite first (m2l2 data build --parts music)")
    return folder


def dev_split(folder: Path, every: int = 8) -> tuple[list[Path], list[Path]]:
    """(train, dev) files of `music/train`, split by track (benchmarks.splits.music_dev)."""
    from benchmarks.splits.music_dev import split_clips

    return split_clips(folder, every)


def link_split(out: Path) -> tuple[Path, Path]:
    """OUT/train and OUT/dev as folders of symbolic links (training data folders for `m2l2 train`)."""
    train, dev = dev_split(suite_train_folder())
    for name, files in (("train", train), ("dev", dev)):
        (out / name).mkdir(parents=True, exist_ok=True)
        for f in files:
            link = out / name / f.name
            if not link.exists():
                link.symlink_to(f)
    return out / "train", out / "dev"


def score_dev(model, clips: list[np.ndarray]) -> dict[str, float]:
    """Held-out scores through `encode` (one- and two-step decoding) and the unrelated-clip reference."""
    from m2l2.training.recon import dynamics_correlation, si_sdr

    out = score(model, clips, aligned=False)
    pairs = list(zip(clips, clips[1:] + clips[:1]))
    out["unrelated_si_sdr"] = float(np.mean([si_sdr(a, b) for a, b in pairs]))
    out["unrelated_dyncorr"] = float(np.mean([dynamics_correlation(a, b) for a, b in pairs]))
    return out


def write_crops(folder: Path, count: int, length: int, out: Path) -> list[Path]:
    """`count` mono crops of `length` samples from the middle of evenly spaced training files."""
    files = dev_split(folder)[0]
    picks = [files[i] for i in np.linspace(0, len(files) - 1, count).round().astype(int)] if count > 1 else [files[0]]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for path in picks:
        audio, _ = load_audio(path, sample_rate=spectral.SAMPLE_RATE)
        mono = audio.mean(0)
        start = max((len(mono) - length) // 2, 0)
        crop = mono[start : start + length][None]
        target = out / f"{path.stem}.wav"
        save_audio(target, crop.astype(np.float32), spectral.SAMPLE_RATE)
        paths.append(target)
    return paths


def train(config: str, overrides: list[str], data: Path, steps: int, run_dir: Path, init_from: Path | None = None):
    """Train with the project's own Trainer (the code path of `m2l2 train`); returns (model, trainer)."""
    import m2l2
    from m2l2.config import load_config
    from m2l2.training.config import TrainConfig
    from m2l2.training.trainer import Trainer

    cfg = load_config(
        config,
        [
            f"train.data={data}",
            f"train.total_steps={steps}",
            "train.checkpoint_every=0",
            "train.checkpoint_minutes=0",
            "train.num_workers=0",
            "train.log_every=25",
            *overrides,
        ],
    )
    train_cfg = TrainConfig.from_dict(cfg["train"])
    torch.manual_seed(train_cfg.seed)  # the initial weights of `m2l2 train`
    model = m2l2.build(cfg["model"])
    trainer = Trainer(model, train_cfg, run_dir, config={"model": model.config.to_dict()})
    resume = (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir())
    if init_from is not None and not resume:
        trainer.init_from(init_from)
    trainer.fit(resume=resume)
    return model, trainer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "gate",
        choices=["1", "2", "3", "rescore", "split", "dev"],
        help="rescore: score OUT/run's last checkpoint again; split: OUT/train and OUT/dev (by track); "
        "dev: score --checkpoint on the dev clips",
    )
    p.add_argument("out", type=Path)
    p.add_argument("--config", default="tiny-ordered")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--crops", type=int, default=8, help="gate 2: number of training crops")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint", type=Path, help="dev: the checkpoint to score (folder, .json or .safetensors)")
    p.add_argument("--ode-steps", type=int, default=32, help="levels of the EDM Euler sampler probe")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.gate == "split":
        train_dir, dev_dir = link_split(args.out)
        print(f"{train_dir}: {len(list(train_dir.iterdir()))} clips; {dev_dir}: {len(list(dev_dir.iterdir()))} clips")
        return 0
    if args.gate in ("3", "dev"):
        return gate3(args)
    from m2l2.config import ModelConfig, load_config

    chunk_frames = ModelConfig.from_dict(load_config(args.config, args.overrides)["model"]).chunk_frames
    length = spectral.frames_to_samples(2 * chunk_frames)  # the model's training length
    count = args.crops if args.gate == "2" else 1
    data = args.out / "data"
    paths = sorted(data.glob("*.wav")) if args.gate == "rescore" else write_crops(suite_train_folder(), count, length, data)
    clips = [load_audio(p_, sample_rate=spectral.SAMPLE_RATE)[0].astype(np.float32) for p_ in paths]
    if args.gate == "rescore":
        import m2l2
        from m2l2.checkpoint import load_checkpoint

        ckpt = load_checkpoint(args.out / "run" / "checkpoints")
        model = m2l2.build(ckpt.config["model"])
        scores = {}
        for name, state in (("ema", ckpt.ema), ("live", ckpt.model)):
            model.load_state_dict(state)
            scores[name] = score(model, clips) | ode_scores(model, clips, args.ode_steps)
            scores[f"{name}_magnitude_only"] = magnitude_only_scores(model, clips)
            if len(clips) > 1:
                scores[f"{name}_latent_use"] = latent_use(model, clips)
        print(json.dumps(scores, indent=1))
        return 0
    start = time.time()
    model, trainer = train(args.config, args.overrides, data, args.steps, args.out / "run")
    seconds = time.time() - start
    result = {"gate": args.gate, "config": args.config, "overrides": args.overrides, "steps": args.steps,
              "crops": [p_.name for p_ in paths], "train_seconds": seconds}
    with trainer.ema.applied(model):
        result["ema"] = score(model, clips) | ode_scores(model, clips, args.ode_steps)
        result["ema_magnitude_only"] = magnitude_only_scores(model, clips)
        if len(clips) > 1:
            result["ema_latent_use"] = latent_use(model, clips)
    result["live"] = score(model, clips)
    (args.out / "gate.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def gate3(args) -> int:
    """Gate 3 (train outside the dev split, score the dev clips), or `dev`: score --checkpoint on them."""
    import m2l2
    from m2l2.training.recon import ReconstructionProbe

    if args.gate == "dev" and args.checkpoint is None:
        sys.exit("dev needs --checkpoint CKPT")
    train_dir, dev_dir = link_split(args.out)
    # every dev clip, the middle 6 s, mono (the models of the gates are mono): the training probe's loader
    clips = ReconstructionProbe.from_folders([str(dev_dir)], len(list(dev_dir.iterdir())), 6.0, 1).clips
    if args.gate == "dev":
        result = {"checkpoint": str(args.checkpoint), "dev": score_dev(m2l2.load(args.checkpoint), clips)}
        print(json.dumps(result, indent=1))
        return 0
    overrides = [f"train.recon_data={dev_dir}", "train.recon_every=500", "train.recon_clips=8",
                 "train.checkpoint_minutes=10", *args.overrides]
    start = time.time()
    model, trainer = train(args.config, overrides, train_dir, args.steps, args.out / "run")
    result = {"gate": "3", "config": args.config, "overrides": overrides, "steps": args.steps,
              "train_seconds_this_call": time.time() - start, "dev_clips": len(clips)}
    with trainer.ema.applied(model):
        result["ema"] = score_dev(model, clips)
    (args.out / "gate3.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
