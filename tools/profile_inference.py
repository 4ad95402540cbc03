"""Where Music2Latent2 inference spends its time on this machine: per module and per operator.

`PYTHONPATH=$PWD python scripts/profile_inference.py [--config paper] [--chunks 3] [--channels-last]`

Module times come from forward hooks (wall clock, nested modules counted in their parents); "other" is the
rest of the call: STFT, overlap-add, noise, Python. Operator times come from `torch.profiler`.
Random weights: the time does not depend on them.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

import m2l2

MODULES = {
    "encoder.patchifier": "encoder patchifier (convs)",
    "encoder.transformer": "encoder transformer",
    "decoder.transformer": "decoder transformer",
    "decoder.depatchifier": "decoder de-patchifier (convs)",
    "consistency.patchifier": "consistency patchifier (convs)",
    "consistency.transformer": "consistency transformer",
    "consistency.depatchifier": "consistency de-patchifier (convs)",
    "consistency.head": "consistency head (norm+conv)",
}


def hook_times(model: torch.nn.Module) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for name, module in model.named_modules():
        if name in MODULES:
            starts: list[float] = []
            module.register_forward_pre_hook(lambda m, a, s=starts: s.append(time.perf_counter()))
            module.register_forward_hook(
                lambda m, a, o, s=starts, n=name: totals.__setitem__(n, totals[n] + time.perf_counter() - s.pop())
            )
    return totals


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="paper")
    p.add_argument("--chunks", type=int, default=3)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--ops", type=int, default=15, help="operators to list (0: skip the operator profile)")
    args = p.parse_args()
    torch.manual_seed(0)
    model = m2l2.build(args.config).eval()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    audio = torch.randn(1, 1, args.chunks * model.chunk_samples) * 0.1
    seconds = audio.shape[-1] / model.sample_rate
    latents = model.encode(audio)
    totals = hook_times(model)
    for what, fn in [("encode", lambda: model.encode(audio)),
                     ("decode", lambda: model.decode(latents, generator=torch.Generator().manual_seed(0)))]:
        totals.clear()
        start = time.perf_counter()
        fn()
        total = time.perf_counter() - start
        print(f"\n{what}: {total:.2f} s for {seconds:.2f} s of audio (RTF {total / seconds:.2f}), "
              f"{torch.get_num_threads()} threads")
        for name, t in totals.items():
            print(f"  {MODULES[name]:38s} {t:8.2f} s {100 * t / total:5.1f} %")
        other = total - sum(totals.values())
        print(f"  {'other (STFT, overlap-add, noise, Python)':38s} {other:8.2f} s {100 * other / total:5.1f} %")
    if args.ops:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            model.decode(latents, generator=torch.Generator().manual_seed(0))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))


if __name__ == "__main__":
    main()
