"""ViSQOL v3 audio mode (MOS-LQO, 1–4.73) through the optional pure-Python port `visqol-python`.

Audio mode is defined at 48 kHz mono. The port takes a 1-D array and silently interleaves a [T, 2] one, so
the signals are down-mixed (channel mean) and resampled (soxr HQ) here, explicitly, before scoring.
Clips are scored in parallel worker processes; each builds the ViSQOL model once, and the pool lives for the
whole process (a fresh pool per batch of clips spent seconds per batch starting interpreters).
"""

from __future__ import annotations

import atexit
import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from m2l2.audio import load_audio, resample
from m2l2.errors import M2L2Error

SAMPLE_RATE = 48000
IDENTICAL_SCORE = 4.7321  # audio-mode ceiling of ViSQOL v3 (C++ and the Python port)
_API = None
_POOL: tuple[int, ProcessPoolExecutor] | None = None  # (workers, pool), kept across calls


def visqol_unavailable() -> str | None:
    """None when visqol-python can be imported, else the reason (to report instead of a number)."""
    try:
        import visqol  # noqa: F401
    except ImportError:
        return "visqol-python not installed (pip install 'm2l2[visqol]')"
    return None


def to_mono(audio: np.ndarray) -> np.ndarray:
    """[N] or [C, N] → float64 [N] by averaging channels; rejects arrays that look like [N, C]."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        return x
    if x.ndim != 2 or (x.shape[0] > 16 and x.shape[1] <= 16):
        raise M2L2Error(f"audio of shape {x.shape} (ViSQOL input): pass [N] or [C, N] samples")
    return x.mean(axis=0)


def prepare(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Down-mix, then resample to 48 kHz: the input ViSQOL audio mode is defined on."""
    return resample(to_mono(audio), sample_rate, SAMPLE_RATE)


def _api():
    global _API
    if _API is None:
        from visqol import VisqolApi

        api = VisqolApi()
        api.create(mode="audio")
        _API = api
    return _API


def visqol_score(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """MOS-LQO of `estimate` against `reference` (both [N] or [C, N] at `sample_rate`), cropped to a common length."""
    ref, est = prepare(reference, sample_rate), prepare(estimate, sample_rate)
    n = min(ref.shape[0], est.shape[0])
    return float(_api().measure_from_arrays(ref[:n], est[:n], SAMPLE_RATE).moslqo)


@dataclass(frozen=True)
class VisqolJob:
    """One clip: a file path or an in-memory (audio, rate) for each side."""

    reference: str | Path | tuple[np.ndarray, int]
    estimate: str | Path | tuple[np.ndarray, int]


def _load_48k(source: str | Path | tuple[np.ndarray, int]) -> np.ndarray:
    if isinstance(source, tuple):
        return prepare(source[0], source[1])
    audio, _ = load_audio(source, sample_rate=SAMPLE_RATE, channels=1)
    return audio[0].astype(np.float64)


def run_job(job: VisqolJob) -> tuple[float | None, str | None]:
    """Score one clip; errors come back as text so that one bad clip does not stop the others."""
    try:
        ref, est = _load_48k(job.reference), _load_48k(job.estimate)
        n = min(ref.shape[0], est.shape[0])
        return float(_api().measure_from_arrays(ref[:n], est[:n], SAMPLE_RATE).moslqo), None
    except Exception as e:  # noqa: BLE001 - reported per clip
        return None, f"{type(e).__name__}: {e}"


def _pool(workers: int) -> ProcessPoolExecutor:
    global _POOL
    if _POOL is None or _POOL[0] != workers:
        shutdown_pool()
        from m2l2.threads import worker_init

        ctx = multiprocessing.get_context("spawn")  # never fork a process whose torch/numba threads run
        _POOL = (workers, ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init))
    return _POOL[1]


def shutdown_pool() -> None:
    """Stop the worker processes (at exit, or before a pool of another size)."""
    global _POOL
    if _POOL is not None:
        _POOL[1].shutdown(cancel_futures=True)
        _POOL = None


atexit.register(shutdown_pool)


def visqol_many(
    jobs: list[VisqolJob], workers: int | None = None, progress: bool = True
) -> list[tuple[float | None, str | None]]:
    """Score clips in `workers` processes (default: the thread count of `m2l2.threads`, one thread each);
    results keep the order of `jobs`."""
    from m2l2.threads import pool_workers

    workers = pool_workers(workers, len(jobs))
    bar = tqdm(total=len(jobs), desc="visqol", unit="clip", disable=not progress)
    results: list[tuple[float | None, str | None]] = [(None, "not run")] * len(jobs)
    if workers > 1:
        try:
            pool = _pool(workers)
            futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
            bar.close()
            return results
        except BrokenProcessPool:
            shutdown_pool()
            # Workers cannot start when __main__ is not importable (e.g. a script piped to python).
            warnings.warn("ViSQOL worker processes failed to start; scoring clips serially", stacklevel=2)
            bar.reset()
    for i, job in enumerate(jobs):
        results[i] = run_job(job)
        bar.update()
    bar.close()
    return results
