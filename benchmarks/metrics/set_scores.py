"""Set-level scorers from one embedder's (cached) embeddings: FAD with FAD-inf and per-song FAD, and KAD."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.embedders import Embedder
from benchmarks.metrics.cache import EmbeddingCache, array_content_hash, file_content_hash
from benchmarks.metrics.evaluation_types import ClipPair, EvalConfig, MetricSummary, Source, not_computed
from benchmarks.metrics.frechet import (
    bootstrap_fad_ci,
    embedding_stats,
    fad_inf,
    frechet_distance,
    per_clip_fad,
)
from benchmarks.metrics.kad import kad_with_ci
from benchmarks.metrics.sources import load_source
from m2l2.errors import M2L2Error

log = logging.getLogger(__name__)


def embed_sources(
    embedder: Embedder,
    sources: Sequence[Source],
    cache: EmbeddingCache,
    progress: bool = False,
    desc: str = "",
) -> list[np.ndarray]:
    """Embeddings [frames, D] of each source, from the cache when the same content was embedded before."""
    identity = embedder.identity()
    out = []
    for source in tqdm(sources, desc=desc or embedder.name, unit="clip", disable=not progress):
        if isinstance(source, tuple):
            content = array_content_hash(np.asarray(source[0]), int(source[1]))
        else:
            content = file_content_hash(source)
        key = cache.key(identity, content)
        emb = cache.get(key)
        if emb is None:
            audio, _ = load_source(source, sample_rate=embedder.sample_rate, mono=True)
            emb = np.asarray(embedder.embed(audio.astype(np.float32)), dtype=np.float32)
            if emb.ndim != 2:
                raise M2L2Error(
                    f"embedder returned shape {emb.shape}, expected [frames, D] ({embedder.name}): make its "
                    "embed return [frames, D]"
                )
            cache.put(key, emb)
        out.append(emb)
    return out


@dataclass
class EmbeddedSet:
    """The reference and estimate embeddings of one clip set under one embedder (shared by its FAD and KAD)."""

    pairs: list[ClipPair]
    reference: list[np.ndarray]
    estimate: list[np.ndarray]
    embedder: str  # the embedder's identity
    cache_hits: int
    cache_misses: int


def embed_pairs(
    metric: str, pairs: list[ClipPair], embedder: Embedder, cache: EmbeddingCache, progress: bool
) -> EmbeddedSet:
    """Reference and estimate embeddings of `pairs`, with how many came from the cache."""
    hits, misses = cache.hits, cache.misses
    ref = embed_sources(embedder, [p.reference for p in pairs], cache, progress, f"{metric} reference")
    est = embed_sources(embedder, [p.estimate for p in pairs], cache, progress, f"{metric} estimate")
    return EmbeddedSet(pairs, ref, est, embedder.identity(), cache.hits - hits, cache.misses - misses)


def non_finite_clip(data: EmbeddedSet) -> str | None:
    """Why a set-level metric of `data` cannot be computed: the first clip whose embedding holds NaN/Inf."""
    for side, clips in (("reference", data.reference), ("estimate", data.estimate)):
        for pair, emb in zip(data.pairs, clips):
            if not np.isfinite(emb).all():
                return f"non-finite embedding values ({side} of clip {pair.clip})"
    return None


_WARNED: set[tuple[str, int, int]] = set()  # once per metric and size in a process (Fig. 3 has many points)


def _warn_few_frames(metric: str, frames: int, dim: int) -> None:
    if frames < 2 * dim and (metric, frames, dim) not in _WARNED:
        _WARNED.add((metric, frames, dim))
        log.warning(
            "%s: %d embedding frames for %d dimensions (fewer than 2 x dimensions): the covariance is "
            "rank-deficient and FAD is biased upward; use more or longer clips",
            metric,
            frames,
            dim,
        )


def fad(metric: str, data: EmbeddedSet, config: EvalConfig) -> tuple[list[float | None], MetricSummary]:
    """FAD of the sets with its paired-bootstrap CI, FAD-inf and per-song FAD (one value per clip); a
    non-finite embedding or value fails the metric with the reason instead of reporting a number."""
    pairs = data.pairs
    why = non_finite_clip(data)
    if why is None:
        try:
            return _fad(metric, data, config)
        except ValueError as e:  # NonFiniteError and friends
            why = str(e).splitlines()[0]
    return [None] * len(pairs), not_computed(metric, why)


def _fad(metric: str, data: EmbeddedSet, config: EvalConfig) -> tuple[list[float | None], MetricSummary]:
    pairs, ref, est = data.pairs, data.reference, data.estimate
    ref_x, est_x = np.concatenate(ref), np.concatenate(est)
    if ref_x.shape[0] < 2 or est_x.shape[0] < 2:
        return [None] * len(pairs), not_computed(metric, "fewer than two embedding frames in a set")
    _warn_few_frames(metric, min(ref_x.shape[0], est_x.shape[0]), ref_x.shape[1])
    ref_stats, est_stats = embedding_stats(ref_x), embedding_stats(est_x)
    per_clip = per_clip_fad(ref_stats, est)
    try:
        inf = fad_inf(ref_stats, est_x, config.fad_inf_steps, config.fad_inf_min_n, config.seed)
        inf_details: dict[str, Any] | None = {"score": inf.score, "slope": inf.slope, "r2": inf.r2}
    except ValueError:
        inf_details = None
    skipped = {p.clip: "fewer than two embedding frames" for p, v in zip(pairs, per_clip) if v is None}
    clip_values = np.array([v for v in per_clip if v is not None], dtype=np.float64)
    summary = MetricSummary(
        metric,
        "ok",
        value=frechet_distance(ref_stats, est_stats),
        ci=bootstrap_fad_ci(ref, est, config.fad_n_boot, config.seed, config.ci_level),
        n=len(pairs),
        skipped=skipped,
        details={
            "embedder": data.embedder,
            "embedding_dim": int(ref_x.shape[1]),
            "frames_reference": int(ref_x.shape[0]),
            "frames_estimate": int(est_x.shape[0]),
            "fad_eigh_check": frechet_distance(ref_stats, est_stats, method="eigh"),
            "fad_inf": inf_details,
            "per_clip_mean": float(clip_values.mean()) if clip_values.size else None,
            "per_clip_definition": "each estimate clip's Gaussian vs the whole reference set (fadtk per-song)",
            "cache_hits": data.cache_hits,
            "cache_misses": data.cache_misses,
        },
    )
    return per_clip, summary


def kad(metric: str, data: EmbeddedSet, config: EvalConfig) -> tuple[list[float | None], MetricSummary]:
    """KAD (×100) of the sets, bandwidth = median pairwise distance of the reference frames, paired
    bootstrap over clips with `config.n_boot` replicates (each is three quadratic forms: cheap)."""
    n = len(data.pairs)
    why = non_finite_clip(data)
    if why is not None:
        return [None] * n, not_computed(metric, why)
    try:
        result = kad_with_ci(data.reference, data.estimate, config.n_boot, config.seed, config.ci_level)
    except ValueError as e:
        return [None] * n, not_computed(metric, str(e).splitlines()[0])
    summary = MetricSummary(
        metric,
        "ok",
        value=result.score,
        ci=result.ci,
        n=n,
        details={
            "embedder": data.embedder,
            "bandwidth": result.bandwidth,
            "bandwidth_rule": "median pairwise Euclidean distance of the reference frames",
            "kernel": "Gaussian RBF, unbiased MMD^2, x100",
            "frames_reference": result.n_reference_frames,
            "frames_estimate": result.n_estimate_frames,
            "cache_hits": data.cache_hits,
            "cache_misses": data.cache_misses,
        },
    )
    return [None] * n, summary
