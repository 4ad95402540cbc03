"""Time consistency-training steps (RAdam, random audio) of a configuration on the CPU.

usage: python tools/bench_step.py CONFIG BATCH STEPS [fp32|bf16] [key=value ...]
env: NT (intra-op threads, default 1), CL=1 (channels_last weights).
Reports wall and process CPU time per step (median, first step excluded): on a shared machine the CPU
time of a one-thread run is the better proxy for speed on an idle core.
"""

from __future__ import annotations

import os
import sys
import time

import torch

import m2l2
from m2l2.config import load_config
from m2l2.consistency import training_loss


def step_times(model, batch: int, steps: int, device: torch.device, bf16: bool) -> tuple[list[float], list[float]]:
    """Wall and process CPU seconds of each of `steps` RAdam training steps on random audio (CUDA synchronised)."""
    opt = torch.optim.RAdam(model.parameters(), lr=1e-4)
    audio = torch.randn(batch, model.channels, model.train_samples, device=device) * 0.1
    wall, cpu = [], []
    for i in range(steps):
        t, c = time.perf_counter(), time.process_time()
        opt.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, _ = training_loss(model, audio, i, 20_000)
        loss.float().backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main() -> None:
    torch.set_num_threads(int(os.environ.get("NT", "1")))
    name, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    precision = sys.argv[4] if len(sys.argv) > 4 else "fp32"
    overrides = sys.argv[5:]
    torch.manual_seed(0)
    model = m2l2.build(load_config(name, overrides)["model"]).train()
    if os.environ.get("CL"):
        model = model.to(memory_format=torch.channels_last)
    wall, cpu = step_times(model, batch, steps, torch.device("cpu"), bf16=precision == "bf16")

    def med(xs):
        xs = sorted(xs[1:] or xs)
        return xs[len(xs) // 2]

    audio_s = batch * model.train_samples / model.sample_rate
    print(
        f"{name} {overrides} {precision} batch {batch} threads {torch.get_num_threads()}: "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, wall {med(wall):.2f} s/step, "
        f"CPU {med(cpu):.2f} s/step ({audio_s:.2f} audio-s per step)"
    )


if __name__ == "__main__":
    main()
