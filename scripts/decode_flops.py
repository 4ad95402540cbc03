"""Floating-point work of encoding and decoding, Music2Latent2 against upstream Music2Latent (random weights).

    python scripts/decode_flops.py [--config paper] [--seconds 4]

Counts the FLOPs of one encode and one decode of the same audio with torch's FlopCounterMode (matrix
products and convolutions; element-wise work is not counted) and prints GFLOP per audio-second and the
ratio. It tells whether a speed ratio comes from the implementation or from the work the algorithm asks
for: two-step decoding runs the consistency model on two chunks for every decoded chunk.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from m2l2.speed import SR, _m2l2_fns, _upstream_fns


def gflops(fn) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="paper")
    p.add_argument("--seconds", type=float, default=4.0)
    args = p.parse_args(argv)
    audio = torch.randn(1, 1, int(args.seconds * SR), generator=torch.Generator().manual_seed(0)) * 0.1
    dev = torch.device("cpu")
    rows = {}
    for name, make in ((f"Music2Latent2 ({args.config})", lambda: _m2l2_fns(args.config, audio, dev)),
                       ("Music2Latent (upstream)", lambda: _upstream_fns(audio, dev))):
        enc, dec = make()
        rows[name] = (gflops(enc) / args.seconds, gflops(dec) / args.seconds)
    if f"Music2Latent2 ({args.config})" in rows:
        import m2l2

        model = m2l2.build(args.config)
        latents = model.encode(audio)
        one = gflops(lambda: model.decode(latents, length=audio.shape[-1], redecode_previous=False)) / args.seconds
        rows[f"Music2Latent2 ({args.config}), one-step"] = (rows[f"Music2Latent2 ({args.config})"][0], one)
    print(f"{'model':40s} {'encode GFLOP/s':>15s} {'decode GFLOP/s':>15s}")
    for name, (e, d) in rows.items():
        print(f"{name:40s} {e:15.1f} {d:15.1f}")
    up = rows["Music2Latent (upstream)"]
    for name, (e, d) in rows.items():
        if name.startswith("Music2Latent2"):
            print(f"ratio {name} / upstream: encode {e / up[0]:.2f}x, decode {d / up[1]:.2f}x, "
                  f"encode + decode {(e + d) / (up[0] + up[1]):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
