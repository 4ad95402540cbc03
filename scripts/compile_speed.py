"""Does `torch.compile` make Music2Latent2 faster on this machine? Eager against compiled, same run.

    python scripts/compile_speed.py [--config paper] [--seconds 4]

Builds the configuration with random weights in channels-last, times encode and decode (best of two calls
after a first one), then compiles every child module (`module.compile()`) and times the same; prints the
first call (the compile), the achieved GFLOP/s against this run's fp32 matmul rate, and the output difference.
"""

from __future__ import annotations

import argparse
import time

import torch

import m2l2
from m2l2.speed import count_gflop, matmul_gflops


def timed(model, audio: torch.Tensor) -> tuple[float, float, float, torch.Tensor]:
    """(first call s, best encode s, best decode s, the decoded waveform)."""
    def decode(latents):
        return model.decode(latents, length=audio.shape[-1], generator=torch.Generator().manual_seed(0))

    with torch.no_grad():
        t = time.perf_counter()
        decode(model.encode(audio))
        first = time.perf_counter() - t
        enc, dec = [], []
        for _ in range(2):
            t = time.perf_counter()
            latents = model.encode(audio)
            enc.append(time.perf_counter() - t)
            t = time.perf_counter()
            y = decode(latents)
            dec.append(time.perf_counter() - t)
    return first, min(enc), min(dec), y


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="paper")
    p.add_argument("--seconds", type=float, default=4.0)
    args = p.parse_args()
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(1, int(args.seconds * 44100))
    ceiling = matmul_gflops(torch.device("cpu"))
    reference = m2l2.build(args.config).eval().to(memory_format=torch.channels_last)
    with torch.no_grad():
        latents = reference.encode(audio)
        gflop_enc = count_gflop(lambda: reference.encode(audio))
        gflop_dec = count_gflop(lambda: reference.decode(latents, length=audio.shape[-1],
                                                         generator=torch.Generator().manual_seed(0)))
    print(f"fp32 matmul {ceiling:.0f} GFLOP/s; {gflop_enc:.0f} GFLOP to encode, {gflop_dec:.0f} to decode")
    outputs = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model = m2l2.build(args.config).eval().to(memory_format=torch.channels_last)
        if compiled:
            for child in model.children():
                child.compile()
        first, enc, dec, outputs[compiled] = timed(model, audio)
        print(f"compiled={compiled}: first call {first:.1f} s; encode {enc:.2f} s "
              f"({gflop_enc / enc / ceiling:.0%} of matmul), decode {dec:.2f} s ({gflop_dec / dec / ceiling:.0%})")
    diff = float((outputs[True] - outputs[False]).norm() / outputs[False].norm())
    print(f"relative output difference, compiled vs eager: {diff:.2e}")


if __name__ == "__main__":
    main()
