"""Peak memory and time of KAD on large embedding sets (the issue-18 check: 50k × 50k frames stay bounded).

usage: python scripts/kad_memory.py [--frames 50000] [--dim 128] [--frames-per-clip 10] [--n-boot 200]
       [--block 1024]
Random Gaussian embeddings stand in for real ones (the cost does not depend on the values). Prints the
wall time of the bandwidth, of the blocked kernel sums and of the bootstrap, and two peaks: the NumPy heap
above the inputs (tracemalloc sees every NumPy buffer) and the process's maximum resident set size.
A full float64 kernel matrix would need frames² · 8 bytes (20 GB at 50k); the blocked sums need tiles
plus three clips × clips matrices.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from benchmarks.metrics.kad import bootstrap_from_sums, kad_from_sums, kernel_sums, reference_bandwidth


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000, help="frames in each of the two sets")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--frames-per-clip", type=int, default=10, help="clip size for the bootstrap sums")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--block", type=int, default=1024)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.frames, args.dim))
    y = rng.standard_normal((args.frames, args.dim)) * 1.1 + 0.05
    per = args.frames_per_clip
    ref = [x[i : i + per] for i in range(0, args.frames, per)]
    est = [y[i : i + per] for i in range(0, args.frames, per)]
    print(f"{args.frames} × {args.frames} frames, dim {args.dim}, {len(ref)} clips, block {args.block}")
    print(
        f"inputs: {2 * x.nbytes / 2**20:.0f} MiB; a dense float64 kernel matrix: {x.shape[0] ** 2 * 8 / 2**30:.1f} GiB"
    )
    rss_before = _rss_mib()

    tracemalloc.start()
    t0 = time.perf_counter()
    h = reference_bandwidth(x)
    t1 = time.perf_counter()
    sums = kernel_sums(ref, est, bandwidth=h, block=args.block)
    score = kad_from_sums(sums)
    t2 = time.perf_counter()
    ci = bootstrap_from_sums(sums, n_boot=args.n_boot)
    t3 = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"bandwidth {h:.4f} in {t1 - t0:.1f} s; KAD {score:.4f} in {t2 - t1:.1f} s (kernel sums)")
    print(f"bootstrap ({args.n_boot} replicates over {len(ref)} clips): CI {ci} in {t3 - t2:.1f} s")
    print(f"peak NumPy heap during KAD: {peak / 2**20:.0f} MiB (its stacked copy of the inputs included)")
    print(f"max RSS: {_rss_mib():.0f} MiB (before KAD, with the inputs: {rss_before:.0f} MiB)")


if __name__ == "__main__":
    main()
