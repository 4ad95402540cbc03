"""Time the issue-18 metrics on a suite-sized set: mel/STFT distances on audio, KAD on embedding-sized sets.

usage: python scripts/time_distance_metrics.py [--clips 120] [--seconds 10] [--n-boot 1000]
Random stereo 44.1 kHz audio (the suite's format) and random embeddings stand in for real ones: the cost
depends on sizes only. Embedding shapes per 10-s clip follow the suite's embedders: VGGish 10 × 128
(0.96-s frames), MusiCNN 3 × 200 (3-s patches), CLAP 1 × 512 (one 10-s window). Prints wall seconds (an upper
bound on a shared machine) and process CPU seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.metrics.kad import kad_with_ci
from benchmarks.metrics.spectral_distance import DAC_MEL, DAC_STFT, clip_distances

SR = 44100
EMBEDDINGS = {"vggish": (10, 128), "musicnn": (3, 200), "clap": (1, 512)}  # frames per 10 s, dimension


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = int(args.seconds * SR)
    pairs = []
    for _ in range(args.clips):
        ref = 0.1 * rng.standard_normal((2, n))
        pairs.append((ref, ref + 0.01 * rng.standard_normal((2, n))))
    print(f"{args.clips} stereo clips of {args.seconds:g} s at {SR} Hz, {args.n_boot} bootstrap replicates")
    for spec in (DAC_MEL, DAC_STFT):
        t0, c0 = time.perf_counter(), time.process_time()
        summary = clip_distances(pairs, SR, spec, n_boot=args.n_boot)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"{spec.name:>5} distance: {dt:6.1f} s wall, {dc:6.1f} s CPU ({dt / args.clips * 1000:.0f} ms/clip wall), "
            f"mean {summary.mean:.4f}"
        )
    scale = args.seconds / 10.0
    for name, (frames, dim) in EMBEDDINGS.items():
        f = max(1, round(frames * scale))
        ref = [rng.standard_normal((f, dim)) for _ in range(args.clips)]
        est = [r + 0.1 * rng.standard_normal(r.shape) for r in ref]
        t0, c0 = time.perf_counter(), time.process_time()
        result = kad_with_ci(ref, est, n_boot=args.n_boot)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"KAD {name:>7} ({args.clips * f} × {dim}): {dt:6.2f} s wall, {dc:6.2f} s CPU with CI, KAD {result.score:.4f}"
        )


if __name__ == "__main__":
    main()
