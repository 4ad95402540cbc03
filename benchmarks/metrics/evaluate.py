"""One function that computes every requested metric for (reference, reconstruction) pairs.

Per clip: SI-SDR, ViSQOL, DAC's multi-scale mel and STFT distances. Per set, from one embedder's cached
embeddings: FAD (with FAD-inf and per-song FAD) and KAD (same embeddings and cache as the FAD of the same
embedder; one embedder instance serves both).

`evaluate_pairs` returns an `Evaluation`: a per-clip table and, per metric, a `MetricSummary` with the
aggregate, a bootstrap confidence interval over clips, skipped clips and provenance. A metric that cannot
be computed on this machine (weights or optional package missing) gets status "not computed" and a reason,
never a number.
"""

from __future__ import annotations

import csv
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.embedders import Embedder, WeightsMissingError, available_embedders, get_embedder
from benchmarks.metrics import METRICS, PER_CLIP_METRICS, embedder_key
from benchmarks.metrics.bootstrap import bootstrap_mean_ci
from benchmarks.metrics.cache import EmbeddingCache, array_content_hash, file_content_hash
from benchmarks.metrics.frechet import (
    bootstrap_fad_ci,
    embedding_stats,
    fad_inf,
    frechet_distance,
    per_clip_fad,
)
from benchmarks.metrics.kad import kad_with_ci
from benchmarks.metrics.sisdr import si_sdr
from benchmarks.metrics.spectral_distance import DAC_MEL, DAC_STFT, MultiScaleSpec, spectral_distance
from benchmarks.metrics.visqol import VisqolJob, visqol_many, visqol_unavailable
from benchmarks.metrics.visqol import to_mono as _to_mono
from benchmarks.provenance import installed_versions
from benchmarks.store import json_number
from m2l2.audio import audio_problem, load_audio, resample
from m2l2.errors import M2L2Error
from m2l2.io import AUDIO_SUFFIXES, write_text

BASE_METRICS = PER_CLIP_METRICS  # declared with the other metric specs
NOT_COMPUTED = "not computed"
SPECTRAL_SPECS: dict[str, MultiScaleSpec] = {"mel-distance": DAC_MEL, "stft-distance": DAC_STFT}
SPECTRAL_RATE = 44100  # DAC reports mel-44k / stft-44k: both signals are compared at 44.1 kHz
METRIC_PACKAGES = ("m2l2", "numpy", "scipy", "torch", "soxr", "visqol-python", "laion-clap")  # in provenance

Source = Path | tuple[np.ndarray, int]  # a file, or in-memory [C, N] / [N] audio with its rate


@dataclass(frozen=True)
class ClipPair:
    clip: str  # identifier shown in the per-clip table (relative path for folders)
    reference: Source
    estimate: Source


@dataclass
class EvalConfig:
    """Settings of one evaluation; all of them go into the provenance of the results."""

    n_boot: int = 1000  # bootstrap replicates for per-clip means (SI-SDR, ViSQOL)
    fad_n_boot: int = 200  # bootstrap replicates for set-level FAD (each needs two matrix roots)
    ci_level: float = 0.95
    seed: int = 0
    fad_inf_steps: int = 25
    fad_inf_min_n: int = 500
    visqol_workers: int | None = None  # default: all cores
    cache_dir: str | None = None  # embedding cache; None keeps nothing on disk
    sisdr_ceiling_db: float = 100.0  # identical signals (+inf dB) count as this in the mean
    embedder_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. {"fad-clap": {...}}


@dataclass
class MetricSummary:
    """The aggregate of one metric over the clip set, or why it was not computed."""

    metric: str
    status: str  # "ok" or "not computed"
    reason: str | None = None
    value: float | None = None
    ci: tuple[float, float] | None = None
    n: int = 0  # clips that contributed
    skipped: dict[str, str] = field(default_factory=dict)  # clip → why it was left out
    details: dict[str, Any] = field(default_factory=dict)

    def display(self, digits: int = 3) -> str:
        if self.status != "ok" or self.value is None:
            return f"{NOT_COMPUTED} ({self.reason})"
        text = f"{self.value:.{digits}f}"
        if self.ci is not None:
            text += f" [{self.ci[0]:.{digits}f}, {self.ci[1]:.{digits}f}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci) if self.ci is not None else None
        return _jsonable(out)


@dataclass
class Evaluation:
    clips: list[str]
    per_clip: dict[str, list[float | None]]  # metric → one value per clip (None: skipped / not computed)
    summaries: dict[str, MetricSummary]
    provenance: dict[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        return [{"clip": c, **{m: v[i] for m, v in self.per_clip.items()}} for i, c in enumerate(self.clips)]

    def aggregates(self) -> dict[str, dict[str, Any]]:
        """One JSON-ready object per metric name."""
        return {m: s.to_dict() for m, s in self.summaries.items()}

    def to_json(self) -> dict[str, Any]:
        rows = [{k: json_number(v) for k, v in row.items()} for row in self.rows()]
        return {"aggregates": self.aggregates(), "per_clip": rows, "provenance": _jsonable(self.provenance)}

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Save everything as JSON at `path` and the per-clip table as CSV next to it."""
        path = Path(path)
        write_text(path, json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        csv_path = path.with_suffix(".per_clip.csv")
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["clip", *self.per_clip])
            writer.writeheader()
            for row in self.rows():
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return path, csv_path

    def table(self) -> str:
        """A plain-text summary table; CI level and FAD provenance in the caption."""
        level = int(round(100 * self.provenance["config"]["ci_level"]))
        lines = [f"{'metric':<14} {'value [' + str(level) + '% CI]':<36} {'n':>6}  notes"]
        for name, s in self.summaries.items():
            notes = []
            if s.skipped:
                notes.append(f"{len(s.skipped)} skipped")
            if s.details.get("bandwidth") is not None:
                notes.append(f"bandwidth {s.details['bandwidth']:.4g} (reference median)")
            if "fad_inf" in s.details and s.details["fad_inf"] is not None:
                notes.append(f"FAD-inf {s.details['fad_inf']['score']:.3f}")
            if s.details.get("n_infinite"):
                notes.append(f"{s.details['n_infinite']} identical (counted as {s.details['ceiling_db']} dB)")
            lines.append(f"{name:<14} {s.display():<36} {s.n:>6}  {'; '.join(notes)}")
        for name, ident in self.provenance.get("embedders", {}).items():
            lines.append(f"  {name}: {ident}")
        return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    """Nested values with non-finite floats written as "inf"/"-inf"/null, so the JSON stays strict."""
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return json_number(float(v)) if isinstance(v, (float, np.floating)) else v


def pairs_from_dirs(
    reference_dir: str | Path, estimate_dir: str | Path
) -> tuple[list[ClipPair], list[str], list[str]]:
    """Pair audio files by relative path without extension; returns (pairs, missing estimates, extra estimates)."""

    def index(root: Path) -> dict[str, Path]:
        if not root.is_dir():
            raise M2L2Error(f"not a folder: {root}")
        found: dict[str, Path] = {}
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES:
                key = p.relative_to(root).with_suffix("").as_posix()
                if key in found:
                    raise M2L2Error(f"two audio files for one clip in {root}: {found[key].name} and {p.name}")
                found[key] = p
        return found

    refs, ests = index(Path(reference_dir)), index(Path(estimate_dir))
    pairs = [ClipPair(k, refs[k], ests[k]) for k in sorted(refs) if k in ests]
    missing = sorted(k for k in refs if k not in ests)
    extra = sorted(k for k in ests if k not in refs)
    return pairs, missing, extra


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    known = [*METRICS, *(e for e in available_embedders() if e not in METRICS)]
    for m in names:
        if m not in known:
            raise M2L2Error(f"unknown metric {m!r}; known: {', '.join(known)}")
    return list(dict.fromkeys(names))


def _load(source: Source, sample_rate: int | None = None, mono: bool = False) -> tuple[np.ndarray, int]:
    """[C, N] float32 (or [N] when mono) at `sample_rate` (native when None)."""
    if isinstance(source, tuple):
        audio, sr = np.asarray(source[0], dtype=np.float32), int(source[1])
        audio = audio[None] if audio.ndim == 1 else audio
        if mono:
            audio = _to_mono(audio)[None].astype(np.float32)
        if sample_rate is not None and sample_rate != sr:
            audio, sr = resample(audio, sr, sample_rate), sample_rate
    else:
        audio, sr = load_audio(source, sample_rate=sample_rate, channels=1 if mono else None)
    return (audio[0] if mono else audio), sr


def _not_computed(metric: str, reason: str) -> MetricSummary:
    return MetricSummary(metric, NOT_COMPUTED, reason=reason)


def _sisdr(
    pairs: list[ClipPair], config: EvalConfig, progress: bool
) -> tuple[list[float | None], MetricSummary]:
    values: list[float | None] = []
    skipped: dict[str, str] = {}
    for pair in tqdm(pairs, desc="si-sdr", unit="clip", disable=not progress):
        ref, sr = _load(pair.reference)
        est, _ = _load(pair.estimate, sample_rate=sr)
        result = si_sdr(ref, est)
        values.append(result.value)
        if result.value is None:
            skipped[pair.clip] = result.skipped or "skipped"
    valid = np.array([v for v in values if v is not None], dtype=np.float64)
    n_inf = int(np.isposinf(valid).sum())
    clipped = np.minimum(valid, config.sisdr_ceiling_db)
    summary = MetricSummary(
        "sisdr",
        "ok" if valid.size else NOT_COMPUTED,
        reason=None if valid.size else "every reference is silent",
        value=float(clipped.mean()) if valid.size else None,
        ci=bootstrap_mean_ci(clipped, config.n_boot, config.seed, config.ci_level),
        n=int(valid.size),
        skipped=skipped,
        details={
            "unit": "dB",
            "median": float(np.median(clipped)) if valid.size else None,
            "n_infinite": n_inf,
            "ceiling_db": config.sisdr_ceiling_db,
            "convention": "zero-mean, float64, per channel on the common length, mean over channels",
        },
    )
    return values, summary


def _visqol(
    pairs: list[ClipPair], config: EvalConfig, progress: bool
) -> tuple[list[float | None], MetricSummary]:
    reason = visqol_unavailable()
    if reason is not None:
        return [None] * len(pairs), _not_computed("visqol", reason)
    jobs = [VisqolJob(p.reference, p.estimate) for p in pairs]
    results = visqol_many(jobs, workers=config.visqol_workers, progress=progress)
    values = [r[0] for r in results]
    skipped = {p.clip: r[1] for p, r in zip(pairs, results) if r[0] is None and r[1]}
    valid = np.array([v for v in values if v is not None], dtype=np.float64)
    import visqol

    summary = MetricSummary(
        "visqol",
        "ok" if valid.size else NOT_COMPUTED,
        reason=None if valid.size else "no clip could be scored",
        value=float(valid.mean()) if valid.size else None,
        ci=bootstrap_mean_ci(valid, config.n_boot, config.seed, config.ci_level),
        n=int(valid.size),
        skipped=skipped,
        details={
            "unit": "MOS-LQO",
            "implementation": f"visqol-python {visqol.__version__}, audio mode, 48 kHz mono",
        },
    )
    return values, summary


def _spectral(
    metric: str, pairs: list[ClipPair], config: EvalConfig, progress: bool
) -> tuple[list[float | None], MetricSummary]:
    """DAC's multi-scale mel or STFT distance per clip at 44.1 kHz (see spectral_distance), mean and CI."""
    spec = SPECTRAL_SPECS[metric]
    values: list[float | None] = []
    skipped: dict[str, str] = {}
    for pair in tqdm(pairs, desc=metric, unit="clip", disable=not progress):
        ref, _ = _load(pair.reference, sample_rate=SPECTRAL_RATE)
        est, _ = _load(pair.estimate, sample_rate=SPECTRAL_RATE)
        try:
            values.append(spectral_distance(ref, est, SPECTRAL_RATE, spec).value)
        except M2L2Error as e:
            values.append(None)
            skipped[pair.clip] = str(e)
    valid = np.array([v for v in values if v is not None], dtype=np.float64)
    summary = MetricSummary(
        metric,
        "ok" if valid.size else NOT_COMPUTED,
        reason=None if valid.size else "every clip is too short",
        value=float(valid.mean()) if valid.size else None,
        ci=bootstrap_mean_ci(valid, config.n_boot, config.seed, config.ci_level),
        n=int(valid.size),
        skipped=skipped,
        details=spectral_details(metric),
    )
    return values, summary


def spectral_details(metric: str) -> dict[str, Any]:
    """The settings of a spectral distance, for the provenance of its numbers."""
    spec = SPECTRAL_SPECS[metric]
    return {
        "unit": "log10 magnitude (DAC loss units)",
        "sample_rate": SPECTRAL_RATE,
        "window_lengths": list(spec.window_lengths),
        "n_mels": list(spec.n_mels) if spec.n_mels else None,
        "hop": "window/4",
        "pow": spec.pow,
        "log_weight": spec.log_weight,
        "mag_weight": spec.mag_weight,
        "clamp_eps": spec.clamp_eps,
    }


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
            audio, _ = _load(source, sample_rate=embedder.sample_rate, mono=True)
            emb = np.asarray(embedder.embed(audio.astype(np.float32)), dtype=np.float32)
            if emb.ndim != 2:
                raise M2L2Error(f"embedder {embedder.name} returned shape {emb.shape}, expected [frames, D]")
            cache.put(key, emb)
        out.append(emb)
    return out


def embed_pairs(
    metric: str, pairs: list[ClipPair], embedder: Embedder, cache: EmbeddingCache, progress: bool
) -> tuple[list[np.ndarray], list[np.ndarray], tuple[int, int]]:
    """Reference and estimate embeddings of `pairs`, and the cache's (hits, misses) before them."""
    before = (cache.hits, cache.misses)
    ref = embed_sources(embedder, [p.reference for p in pairs], cache, progress, f"{metric} reference")
    est = embed_sources(embedder, [p.estimate for p in pairs], cache, progress, f"{metric} estimate")
    return ref, est, before


def _fad(
    metric: str,
    pairs: list[ClipPair],
    embedder: Embedder,
    cache: EmbeddingCache,
    config: EvalConfig,
    progress: bool,
) -> tuple[list[float | None], MetricSummary]:
    ref, est, (hits0, misses0) = embed_pairs(metric, pairs, embedder, cache, progress)
    ref_x, est_x = np.concatenate(ref), np.concatenate(est)
    if ref_x.shape[0] < 2 or est_x.shape[0] < 2:
        return [None] * len(pairs), _not_computed(metric, "fewer than two embedding frames in a set")
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
            "embedder": embedder.identity(),
            "embedding_dim": int(ref_x.shape[1]),
            "frames_reference": int(ref_x.shape[0]),
            "frames_estimate": int(est_x.shape[0]),
            "fad_eigh_check": frechet_distance(ref_stats, est_stats, method="eigh"),
            "fad_inf": inf_details,
            "per_clip_mean": float(clip_values.mean()) if clip_values.size else None,
            "per_clip_definition": "each estimate clip's Gaussian vs the whole reference set (fadtk per-song)",
            "cache_hits": cache.hits - hits0,
            "cache_misses": cache.misses - misses0,
        },
    )
    return per_clip, summary


def source_problem(source: Source) -> str | None:
    """Why `source` cannot be scored (unreadable, zero channels, empty, NaN/Inf samples), or None."""
    if not isinstance(source, tuple):
        return audio_problem(source)
    audio = np.asarray(source[0])
    if audio.size == 0:
        return "empty: no samples"
    if not np.isfinite(audio).all():
        return "non-finite samples"
    return None


def screen_pairs(pairs: Sequence[ClipPair]) -> tuple[list[ClipPair], dict[str, str]]:
    """(pairs whose reference and estimate are usable audio, clip → why each other pair is skipped).

    Every file is decoded once more here; the price of never scoring a corrupt or NaN-holding file."""
    usable, unusable = [], {}
    for pair in pairs:
        for side, source in (("reference", pair.reference), ("estimate", pair.estimate)):
            problem = source_problem(source)
            if problem is not None:
                unusable[pair.clip] = f"{side} {_name(source)}: {problem}"
                break
        else:
            usable.append(pair)
    return usable, unusable


def _name(source: Source) -> str:
    return "(array)" if isinstance(source, tuple) else Path(source).name


def _kad(
    metric: str,
    pairs: list[ClipPair],
    embedder: Embedder,
    cache: EmbeddingCache,
    config: EvalConfig,
    progress: bool,
) -> tuple[list[float | None], MetricSummary]:
    """KAD (×100) of the sets, bandwidth = median pairwise distance of the reference frames, paired
    bootstrap over clips with `config.n_boot` replicates (each is three quadratic forms: cheap)."""
    ref, est, (hits0, misses0) = embed_pairs(metric, pairs, embedder, cache, progress)
    try:
        result = kad_with_ci(ref, est, config.n_boot, config.seed, config.ci_level)
    except ValueError as e:
        return [None] * len(pairs), _not_computed(metric, str(e).splitlines()[0])
    summary = MetricSummary(
        metric,
        "ok",
        value=result.score,
        ci=result.ci,
        n=len(pairs),
        details={
            "embedder": embedder.identity(),
            "bandwidth": result.bandwidth,
            "bandwidth_rule": "median pairwise Euclidean distance of the reference frames",
            "kernel": "Gaussian RBF, unbiased MMD^2, x100",
            "frames_reference": result.n_reference_frames,
            "frames_estimate": result.n_estimate_frames,
            "cache_hits": cache.hits - hits0,
            "cache_misses": cache.misses - misses0,
        },
    )
    return [None] * len(pairs), summary


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
        raise M2L2Error("no (reference, estimate) pairs to evaluate")
    if len({p.clip for p in pairs}) != len(pairs):
        raise M2L2Error("clip identifiers must be unique")
    usable, unusable = screen_pairs(pairs)
    cache = EmbeddingCache(config.cache_dir)
    per_clip: dict[str, list[float | None]] = {}
    summaries: dict[str, MetricSummary] = {}
    identities: dict[str, str] = {}
    built: dict[str, Embedder] = {}  # embedder key → instance, shared by the FAD and KAD of one embedder
    for name in names:
        key = embedder_key(name)
        if not usable:
            per_clip[name], summaries[name] = [], _not_computed(name, "no clip has usable audio (see skipped)")
        elif name == "sisdr":
            per_clip[name], summaries[name] = _sisdr(usable, config, progress)
        elif name == "visqol":
            per_clip[name], summaries[name] = _visqol(usable, config, progress)
        elif name in SPECTRAL_SPECS:
            per_clip[name], summaries[name] = _spectral(name, usable, config, progress)
        else:
            try:
                embedder = (embedders or {}).get(name) or (embedders or {}).get(key) or built.get(key)
                if embedder is None:
                    options = {
                        **config.embedder_options.get(key, {}),
                        **config.embedder_options.get(name, {}),
                    }
                    embedder = built[key] = get_embedder(key, **options)
            except WeightsMissingError as e:
                per_clip[name], summaries[name] = (
                    [None] * len(usable),
                    _not_computed(name, f"weights missing: {e.filename}"),
                )
                continue
            except M2L2Error as e:
                per_clip[name], summaries[name] = (
                    [None] * len(usable),
                    _not_computed(name, f"unavailable: {str(e).splitlines()[0]}"),
                )
                continue
            identities[name] = embedder.identity()
            score = _kad if name.startswith("kad-") else _fad
            per_clip[name], summaries[name] = score(name, usable, embedder, cache, config, progress)
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
    return Evaluation([p.clip for p in pairs], per_clip, summaries, provenance)
