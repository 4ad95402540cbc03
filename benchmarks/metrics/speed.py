"""Throughput of each metric on synthetic 10-s stereo 44.1-kHz clips: `python -m benchmarks.metrics.speed`.

FAD embedders run with their real architecture; where the weights file is absent a randomly initialised
network is used (same compute, meaningless values), and the output says so.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.metrics.cache import EmbeddingCache
from benchmarks.metrics.evaluate import EvalConfig, embed_sources, evaluate_pairs, pairs_from_dirs
from m2l2.audio import save_audio

SR = 44100


def make_clips(root: Path, n: int, seconds: float = 10.0, seed: int = 0) -> None:
    """n (reference, noisy reconstruction) pairs of harmonic tones with tremolo and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    for i in range(n):
        f = 110 * 2 ** (rng.integers(0, 24) / 12)
        x = sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(4 * np.pi * t))
        ref = np.stack([x, np.roll(x, 200)]) * 0.15 + 0.01 * rng.standard_normal((2, t.size))
        save_audio(root / "ref" / f"clip{i:03d}.wav", ref, SR)
        save_audio(root / "est" / f"clip{i:03d}.wav", ref + 0.02 * rng.standard_normal(ref.shape), SR)


def _embedders(metrics: list[str]) -> tuple[dict, list[str]]:
    import torch

    from benchmarks.embedders import get_embedder
    from benchmarks.embedders.vggish import VGGishEmbedder, VGGishNet
    from m2l2.errors import M2L2Error

    out, notes = {}, []
    for m in metrics:
        if not m.startswith("fad-"):
            continue
        try:
            out[m] = get_embedder(m)
        except M2L2Error as e:
            if m == "fad-vggish":
                torch.manual_seed(0)
                out[m] = VGGishEmbedder(net=VGGishNet(), weights_tag="random-init")
                notes.append("fad-vggish: weights absent, timed with a randomly initialised VGGish")
            else:
                notes.append(f"{m}: not timed ({str(e).splitlines()[0]})")
    return out, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--metrics", default="sisdr,visqol,fad-vggish")
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    embedders, notes = _embedders(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        make_clips(Path(tmp), args.clips)
        pairs, _, _ = pairs_from_dirs(Path(tmp) / "ref", Path(tmp) / "est")
        for m in metrics:
            if m.startswith("fad-") and m not in embedders:
                continue
            config = EvalConfig(visqol_workers=args.workers)
            wall, cpu = time.perf_counter(), time.process_time()
            result = evaluate_pairs(pairs, [m], config, embedders=embedders, progress=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            s = result.summaries[m]
            if m in embedders:
                cpu_e = time.process_time()
                wall_e = time.perf_counter()
                sources = [src for pair in pairs for src in (pair.reference, pair.estimate)]
                embed_sources(embedders[m], sources, EmbeddingCache(None))
                wall_e, cpu_e = time.perf_counter() - wall_e, time.process_time() - cpu_e
                print(
                    f"{m:<12} embedding alone: {len(pairs) / wall_e:7.3f} clips/s ({wall_e:.1f} s wall, "
                    f"{cpu_e:.1f} s CPU; reference + reconstruction per clip, no cache)"
                )
            print(
                f"{m:<12} {len(pairs) / wall:7.3f} clips/s  ({wall:6.1f} s wall, {cpu:6.1f} s CPU in this process "
                f"for {len(pairs)} clips of 10 s; status {s.status}, value {s.display()})"
            )
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
