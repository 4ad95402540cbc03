"""What 1,000 joint resamples of a set-metric difference cost on this machine (`paired_sets`), for sets
shaped like the offline suite's embedders: `python -m benchmarks.metrics.paired_cost [--clips N]`.

Synthetic embeddings stand in for cached ones (the cost depends on the shapes only). The KAD line
includes its kernel sums, computed once per comparison; the rest of each line is the resamples.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.metrics.paired_sets import set_difference

SHAPES = (("MusiCNN (200-d, 3 frames per 10-s clip)", 3, 200), ("VGGish (128-d, 10 per clip)", 10, 128),
          ("CLAP (512-d, 1 per clip)", 1, 512))  # fmt: skip


def measure(clips: int, frames: int, dim: int, metric: str, resamples: int, seed: int = 0) -> float:
    """Seconds per 1,000 resamples of metric(A) − metric(B) for `clips` clips of [frames, dim] embeddings."""
    rng = np.random.default_rng(seed)
    ref = [rng.normal(size=(frames, dim)) for _ in range(clips)]
    a = [r + 0.3 * rng.normal(size=r.shape) for r in ref]
    b = [r + 0.4 * rng.normal(size=r.shape) for r in ref]
    started = time.perf_counter()
    set_difference(metric, ref, a, b, n_boot=resamples, seed=seed)
    return 1000.0 * (time.perf_counter() - started) / resamples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=120, help="clips per set (default 120, the offline suite)")
    p.add_argument("--resamples", type=int, default=200, help="resamples timed per line (default 200)")
    args = p.parse_args(argv)
    print(f"{args.clips} clips; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, frames, dim in SHAPES:
        for metric in ("fad-x", "kad-x"):
            seconds = measure(args.clips, frames, dim, metric, args.resamples)
            print(f"  {metric[:3].upper()} {name}: {seconds:.1f} s per 1,000 resamples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
