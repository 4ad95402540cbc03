"""A/B of one full-resolution residual block of the paper model (64 channels, 1024x64, batch 2) on CPU:
contiguous vs channels-last vs bf16 autocast, interleaved repeats (a shared machine drifts), with the output
difference of each against float32 contiguous.

`PYTHONPATH=$PWD python scripts/bench_conv_formats.py [--repeats 4]`
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from m2l2.layers import ResBlock


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args()
    torch.manual_seed(0)
    block = ResBlock(64, 256, 16).eval()
    for param in block.conv2.parameters():  # zero-initialised: make the second conv do something
        param.data.normal_(0, 0.02)
    block_cl = ResBlock(64, 256, 16).eval()
    block_cl.load_state_dict(block.state_dict())
    block_cl = block_cl.to(memory_format=torch.channels_last)
    x, cond = torch.randn(2, 64, 1024, 64), torch.randn(2, 256)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    variants = {
        "contiguous": (block, x, contextlib.nullcontext),
        "channels_last": (block_cl, x_cl, contextlib.nullcontext),
        "bf16 autocast": (block, x, lambda: torch.autocast("cpu", dtype=torch.bfloat16)),
    }
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, AVX-512 BF16 "
          f"{torch.cpu._is_avx512_bf16_supported()}, {torch.get_num_threads()} threads")
    times: dict[str, list[float]] = {k: [] for k in variants}
    with torch.no_grad():
        ref = block(x, cond)
        for name, (m, inp, ctx) in variants.items():
            with ctx():
                out = m(inp, cond).float()
            print(f"{name:14s} max |diff| {(out - ref).abs().max().item():.2e} (output rms {ref.pow(2).mean().sqrt():.2f})")
        for _ in range(args.repeats):
            for name, (m, inp, ctx) in variants.items():
                start = time.perf_counter()
                with ctx():
                    m(inp, cond)
                times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        print(f"{name:14s} " + " ".join(f"{t:.3f}" for t in ts) + f"  best {min(ts):.3f} s")


if __name__ == "__main__":
    main()
