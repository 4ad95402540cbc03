"""The GPU part of the training investigation as one device-tool call (≤ 10 minutes), prepared on the CPU.

    python tools/gpu_train.py pack data/gpu-train             # here: music-train full tracks, mono Ogg Vorbis, ≤ 48 MiB
    python tools/gpu_train.py run "$OUT" --data data/gpu-train  # on the device (carry: ["data/gpu-train"])
    python tools/gpu_train.py run OUT --data data/gpu-train --train-minutes 0.1 --batch 2 \
        --speed-config tiny --speed-batch 2 --speed-steps 1     # the same on a CPU, as a smoke test

`run` first trains (default: the consistency tuning recipe `tiny-consistency-tuning` from the committed
`tiny-ordered` denoiser, bf16 on a GPU, a batch that fills it) until `--train-minutes` have passed and writes
the EMA weights (an inference checkpoint, ≈ 13 MB for tiny) and the log to OUT; then it times `paper`
training steps at batch 16, with and without torch.compile, against the paper's ≈ 1.2 it/s on an A100.
OUT/summary.json holds every figure. `pack` reads the suite's music-train part (full tracks; the eval and dev
tracks are not in it), so the dev clips can still score the run:
`python tools/training_gates.py dev OUT --checkpoint OUT/ema`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import torch

GATE3_OPTIONS = ["model.frequency_scaling=true", "train.output_magnitude_weight=1.0", "train.detach_cross=true"]
PAPER_IT_S_A100 = 1.2  # the paper: 1 M iterations at batch 16 in ~10 days on one A100


def pack(dest: Path, max_mib: float) -> None:
    """Mono Ogg Vorbis copies of the music-train tracks (no eval or dev track), up to `max_mib`."""
    import soundfile as sf

    from benchmarks.datasets.suite import default_root
    from m2l2.audio import load_audio

    source = default_root() / "music-train"
    if not source.is_dir():
        raise SystemExit(f"{source} not found: build it with `m2l2 data build --parts music,music-train`")
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    files = sorted(source.glob("*.flac"))
    for path in files:
        audio, sr = load_audio(path)
        target = dest / f"{path.stem}.ogg"
        sf.write(target, audio.mean(0), sr, format="OGG", subtype="VORBIS")
        total += target.stat().st_size
        if total > max_mib * 2**20:
            target.unlink()
            break
    kept = sorted(dest.glob("*.ogg"))
    print(f"{dest}: {len(kept)} of {len(files)} training files, {sum(f.stat().st_size for f in kept) / 2**20:.1f} MiB")


def train_for(out: Path, data: Path, config: str, overrides: list[str], batch: int, minutes: float,
              schedule_steps: int, cuda: bool, init_from: Path | None = None) -> dict:
    """Train until `minutes` have passed (a STOP file ends the run with a checkpoint); export the EMA."""
    from training_gates import train

    from m2l2.checkpoint import export_inference

    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)  # the timer may fire before the trainer creates it
    stopper = threading.Timer(60 * minutes, lambda: (run_dir / "STOP").touch())
    settings = [*GATE3_OPTIONS, f"train.batch_size={batch}", "train.num_workers=8" if cuda else "train.num_workers=0",
                f"train.precision={'bf16' if cuda else 'fp32'}", "train.log_every=25", *overrides]
    start = time.time()
    stopper.start()
    try:
        model, trainer = train(config, settings, data, schedule_steps, run_dir, init_from)
    finally:
        stopper.cancel()
    seconds = time.time() - start
    export_inference(run_dir / "checkpoints", out / "ema")
    if (run_dir / "log.jsonl").exists():  # a run stopped before its first log row has none
        shutil.copy(run_dir / "log.jsonl", out / "log.jsonl")
    shutil.rmtree(run_dir / "checkpoints")  # optimizer state: too large to bring back, not needed for scoring
    return {"config": config, "init_from": None if init_from is None else str(init_from), "overrides": settings,
            "steps": trainer.step, "schedule_steps": schedule_steps,
            "seconds": seconds, "steps_per_s": trainer.step / seconds,
            "audio_seconds_per_s": trainer.step * batch * model.train_samples / 44_100 / seconds}


def time_steps(config: str, batch: int, steps: int, compile_model: bool, device: torch.device) -> dict:
    """Median seconds per training step (bf16 on CUDA), the first two (warm-up, compilation) excluded."""
    from bench_step import step_times

    import m2l2

    torch.manual_seed(0)
    model = m2l2.build(config).to(device).train()
    if compile_model:  # as train.compile does: each top-level network, which training_loss calls directly
        for child in model.children():
            child.compile()
    times, _ = step_times(model, batch, steps + 2, device, bf16=device.type == "cuda")
    median = float(np.median(times[2:]))
    return {"config": config, "compile": compile_model, "batch": batch, "first_step_s": times[0], "step_s": median,
            "it_s": 1 / median, "vs_paper_a100": (1 / median) / PAPER_IT_S_A100}


def run(args) -> None:
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"device": torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
               "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    summary["train"] = train_for(args.out, args.data, args.config, args.overrides, args.batch, args.train_minutes,
                                 args.schedule_steps, cuda, args.init_from)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    summary["paper_speed"] = []
    for compile_model in (False, True):
        try:
            summary["paper_speed"].append(
                time_steps(args.speed_config, args.speed_batch, args.speed_steps, compile_model, device))
        except Exception as e:  # noqa: BLE001 (a failed compile must not lose the training result)
            summary["paper_speed"].append({"compile": compile_model, "error": f"{type(e).__name__}: {e}"})
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="write the training split as mono Ogg Vorbis (carried to the device)")
    pk.add_argument("dest", type=Path)
    pk.add_argument("--max-mib", type=float, default=48.0)
    r = sub.add_parser("run", help="train, export the EMA weights, time paper steps")
    r.add_argument("out", type=Path)
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--config", default="tiny-consistency-tuning")
    r.add_argument("--init-from", type=Path, default=Path("results/checkpoints/tiny-ordered"),
                   help="weights to start from (a new run at step 0); pass none to train from scratch")
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--train-minutes", type=float, default=4.0)
    r.add_argument("--schedule-steps", type=int, default=20_000, help="train.total_steps (the LR schedule's length)")
    r.add_argument("--speed-steps", type=int, default=10)
    r.add_argument("--speed-config", default="paper", help="the configuration timed (paper: the paper's model)")
    r.add_argument("--speed-batch", type=int, default=16)
    r.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    if getattr(args, "init_from", None) is not None and str(args.init_from) == "none":
        args.init_from = None
    if args.command == "pack":
        pack(args.dest, args.max_mib)
    else:
        run(args)


if __name__ == "__main__":
    main()
