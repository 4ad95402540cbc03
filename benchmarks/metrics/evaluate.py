"""One function that computes every requested metric for (reference, reconstruction) pairs.

Per clip: SI-SDR, ViSQOL, DAC's multi-scale mel and STFT distances. Per set, from one embedder's cached
embeddings: FAD (with FAD-inf and per-song FAD) and KAD (same embeddings and cache as the FAD of the same
embedder; one embedder instance serves both).

`evaluate_pairs` returns an `Evaluation`: a per-clip table and, per metric, a `MetricSummary` with the
aggregate, a bootstrap confidence interval over clips, skipped clips and provenance. A metric that cannot
be computed on this machine (weights or optional package missing) gets status "not computed" and a reason,
never a number.

The parts live by concept: `evaluation_types` (the data types of an evaluation and its results), `sources` (pairs, reading, screening),
`clip_scores` (per-clip metrics), `set_scores` (FAD, KAD); this module only dispatches.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone

from benchmarks.embedders import Embedder, WeightsMissingError, available_embedders, get_embedder
from benchmarks.metrics import METRICS, PER_CLIP_METRICS, clip_scores, embedder_key, metric_spec, set_scores
from benchmarks.metrics.cache import EmbeddingCache
from benchmarks.metrics.clip_scores import SPECTRAL_RATE, SPECTRAL_SPECS, spectral_details
from benchmarks.metrics.evaluation_types import (
    NOT_COMPUTED,
    ClipPair,
    EvalConfig,
    Evaluation,
    MetricSummary,
    not_computed,
)
from benchmarks.metrics.set_scores import embed_pairs, embed_sources
from benchmarks.metrics.sources import load_source, pairs_from_dirs, screen_pairs, source_problem
from benchmarks.provenance import installed_versions
from m2l2.errors import M2L2Error

__all__ = [  # the public names of the evaluation, importable from here
    "NOT_COMPUTED",
    "SPECTRAL_RATE",
    "SPECTRAL_SPECS",
    "ClipPair",
    "EvalConfig",
    "Evaluation",
    "MetricSummary",
    "embed_pairs",
    "embed_sources",
    "evaluate_pairs",
    "load_source",
    "pairs_from_dirs",
    "parse_metrics",
    "screen_pairs",
    "source_problem",
    "spectral_details",
]
BASE_METRICS = PER_CLIP_METRICS  # declared with the other metric specs
METRIC_PACKAGES = ("m2l2", "numpy", "scipy", "torch", "soxr", "visqol-python", "laion-clap")  # in provenance


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    known = [*METRICS, *(e for e in available_embedders() if e not in METRICS)]
    for m in names:
        if m not in known:
            raise M2L2Error(f"unknown metric {m!r} (metrics): use one of {', '.join(known)}")
    return list(dict.fromkeys(names))


def evaluate_pairs(
    pairs: Sequence[ClipPair],
    metrics: str | Sequence[str],
    config: EvalConfig | None = None,
    embedders: dict[str, Embedder] | None = None,
    progress: bool = True,
) -> Evaluation:
    """Compute `metrics` (names of `benchmarks.metrics.METRICS`) over `pairs`.

    `embedders` maps set-level metric names (or embedder keys such as "fad-clap") to ready embedders;
    otherwise they are built from the registry with `config.embedder_options` (keyed the same way), once
    per embedder. A set-level metric whose embedder cannot be built is reported as not computed.
    A pair whose reference or estimate is not usable audio gets no value and its reason in every
    metric's `skipped` (and in the provenance's `unusable_clips`); the others are scored as usual.
    """
    config = config or EvalConfig()
    names = parse_metrics(metrics)
    pairs = list(pairs)
    if not pairs:
        raise M2L2Error("no (reference, estimate) pairs to evaluate (pairs): give at least one pair")
    if len({p.clip for p in pairs}) != len(pairs):
        raise M2L2Error("clip identifiers are not unique (pairs): give each pair its own clip")
    usable, unusable = screen_pairs(pairs)
    cache = EmbeddingCache(config.cache_dir)
    per_clip: dict[str, list[float | None]] = {}
    summaries: dict[str, MetricSummary] = {}
    identities: dict[str, str] = {}
    built: dict[str, Embedder] = {}  # embedder key → instance, shared by the FAD and KAD of one embedder
    seconds: dict[str, float] = {}
    for name in names:
        started = time.perf_counter()
        spec = metric_spec(name)
        if not usable:
            per_clip[name], summaries[name] = [], not_computed(name, "no clip has usable audio (see skipped)")
        elif spec.per_clip:
            per_clip[name], summaries[name] = getattr(clip_scores, spec.scorer)(name, usable, config, progress)
        else:
            embedder, why = _embedder(name, embedders, built, config)
            if embedder is None:
                per_clip[name], summaries[name] = [None] * len(usable), not_computed(name, why)
                continue
            identities[name] = embedder.identity()
            data = embed_pairs(name, usable, embedder, cache, progress)
            per_clip[name], summaries[name] = getattr(set_scores, spec.scorer)(name, data, config)
        seconds[name] = time.perf_counter() - started
    # Clips with unusable audio: no value, and the reason in every metric's skipped list.
    values = {p.clip: i for i, p in enumerate(usable)}
    for name in names:
        got = per_clip[name]
        per_clip[name] = [got[values[p.clip]] if p.clip in values else None for p in pairs]
        summaries[name].skipped = {**unusable, **summaries[name].skipped}
    provenance = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clips": len(pairs),
        "unusable_clips": unusable,
        "config": asdict(config),
        "embedders": identities,
        "versions": installed_versions(METRIC_PACKAGES),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
    }
    return Evaluation([p.clip for p in pairs], per_clip, summaries, provenance, seconds)


def _embedder(name: str, given: dict[str, Embedder] | None, built: dict[str, Embedder],
              config: EvalConfig) -> tuple[Embedder | None, str]:
    """The embedder of a set-level metric: one passed in, one built earlier (FAD and KAD of one embedder
    share it), or a new one from the registry; (None, why) when it cannot be built here."""
    key = embedder_key(name)
    embedder = (given or {}).get(name) or (given or {}).get(key) or built.get(key)
    if embedder is not None:
        return embedder, ""
    options = {**config.embedder_options.get(key, {}), **config.embedder_options.get(name, {})}
    try:
        embedder = built[key] = get_embedder(key, **options)
    except WeightsMissingError as e:
        return None, f"weights missing: {e.filename}"
    except M2L2Error as e:
        return None, f"unavailable: {str(e).splitlines()[0]}"
    return embedder, ""
