"""Peak memory of Music2Latent2 decoding for 30 s and 10 min of audio, autoregressive vs parallel mode.

`PYTHONPATH=$PWD python scripts/decode_memory.py [--config tiny] [--seconds 30 600] [--max-batch 8]`

Random weights (memory does not depend on them). Peak memory as `m2l2.speed.peak_bytes` measures it (the
largest of torch's CPU allocator peak, Python allocations and RSS growth, each printed; RSS measured in a call
of its own, without the profiler; CUDA peak allocation on a GPU). The output
waveform itself (4 bytes per sample) is part of the peak: it is printed alongside.
"""

from __future__ import annotations

import argparse
import time

import torch

import m2l2
from m2l2.speed import peak_bytes


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="tiny")
    p.add_argument("--seconds", type=float, nargs="*", default=[30.0, 600.0])
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--modes", nargs="*", default=["autoregressive", "parallel"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    model = m2l2.build(args.config).to(dev).eval()
    print(f"config {args.config}, device {dev}, {torch.get_num_threads()} threads, max_batch {args.max_batch}")
    print(f"{'audio s':>8s} {'chunks':>7s} {'mode':>15s} {'peak MiB':>9s} {'torch':>7s} {'python':>7s} {'rss':>7s} "
          f"{'output MiB':>11s} {'wall s':>8s}")
    for seconds in args.seconds:
        chunks = max(1, round(seconds * model.chunk_rate))
        lat = torch.rand(1, chunks, *model.config.latent_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        for mode in args.modes:
            start = time.perf_counter()
            def decode(lat=lat, mode=mode):
                model.decode(lat.to(dev), generator=torch.Generator().manual_seed(0), mode=mode,
                             max_batch=args.max_batch)

            peak = peak_bytes(decode, dev)
            wall = (time.perf_counter() - start) / (1 if dev.type == "cuda" else 2)  # CPU: two tracked calls
            out_mib = chunks * model.chunk_samples * model.channels * 4 / 2**20
            parts = "".join(f" {peak.get(k, 0) / 2**20:7.0f}" for k in ("torch_allocator", "python", "rss"))
            print(f"{seconds:8.0f} {chunks:7d} {mode:>15s} {peak['bytes'] / 2**20:9.0f}{parts} {out_mib:11.1f} {wall:8.1f}")


if __name__ == "__main__":
    main()
