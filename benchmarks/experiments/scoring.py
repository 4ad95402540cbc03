"""Reconstructing the evaluation set with one model and scoring it, shared by Table II and the FAD points.

A reconstruction `<folder>/<clip>.flac` is reused when its sidecar key (hash of the clip's audio, the
model's identity, the channel mode, the seed) matches and its bytes match the checksum the sidecar recorded
(`store.reuse_cached`: a damaged file is rebuilt); the sidecar is written after the audio, so it marks
completion. Scores: mean and bootstrap CI of per-clip metrics over rows, and set-level FADs and KADs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks import store
from benchmarks.config import EvalSettings, TablesConfig
from benchmarks.evalset import Clip
from benchmarks.experiments.base import ClipHook, RunSummary
from benchmarks.metrics import PER_CLIP_METRICS

RECON_VERSION = "recon-v1"  # bump when the way reconstructions are made or stored changes
AGG_VERSION = "agg-v1"  # bump when aggregation (bootstrap, FAD) changes


def recon_folder(cfg: TablesConfig, label: str) -> Path:
    """Where a model's reconstructions of the evaluation set are cached (shared by Table II, Table I and
    the report)."""
    return Path(cfg.cache_dir).expanduser() / "recon" / store.slug(cfg.name) / store.slug(label)


def recon_file(folder: Path, clip: Clip) -> Path:
    return folder / f"{store.slug(clip.id)}.flac"


def shared_recon(cfg: TablesConfig, key: str) -> Path:
    """Every reconstruction is also filed under its key, so an experiment that needs one another experiment
    already made (Fig. 3's σ_cond = 0.4 point is Table II's row) links it instead of decoding again."""
    return Path(cfg.cache_dir).expanduser() / "recon" / "by-key" / key[:2] / f"{key}.flac"


def recon_keys(cfg: TablesConfig, model_key: str, clips: list[Clip]) -> dict[str, str]:
    """Clip id → key of its reconstruction (clip audio hash, model identity, channel mode, seed): known
    before anything is decoded, so a result that depends only on these keys can be reused without decoding."""
    return {
        c.id: store.key([RECON_VERSION, c.hash, model_key, cfg.channel_mode, cfg.eval.seed]) for c in clips
    }


def reconstruct_clips(
    cfg: TablesConfig,
    ae: Any,
    model_key: str,
    clips: list[Clip],
    folder: Path,
    summary: RunSummary,
    progress: bool,
    on_clip: ClipHook | None,
    label: str,
) -> dict[str, str]:
    """Reconstruct missing/stale clips into `folder`; returns clip id → reconstruction key."""
    from baselines.harness import reconstruct, seeded
    from m2l2.audio import audio_file_problem, save_audio

    keys = recon_keys(cfg, model_key, clips)
    bar = tqdm(clips, desc=f"{label}: reconstruct", unit="clip", disable=not progress, file=sys.stdout)
    for clip in bar:
        key = keys[clip.id]
        out, side = recon_file(folder, clip), folder / f"{store.slug(clip.id)}.json"
        shared = shared_recon(cfg, key)
        # reused only when it matches the checksum recorded at write time; a damaged copy is rebuilt
        if store.reuse_cached(
            out, side, shared, {"key": key, "clip": clip.id}, lambda p, ref=clip.reference: audio_file_problem(p, ref)
        ):
            summary.reused_reconstructions += 1
            continue
        audio, sr = clip.load()
        t0 = time.perf_counter()
        with seeded(cfg.eval.seed if ae.stochastic else None):
            y = reconstruct(ae, audio, sr, channel_mode=cfg.channel_mode)
        seconds = time.perf_counter() - t0
        summary.add_time(f"reconstruct: {label}", seconds)
        save_audio(out, y, sr)  # atomic; 16-bit FLAC (the sidecar is written after, so it marks completion)
        store.record_cached(out, side, shared, {"key": key, "clip": clip.id, "seconds": round(seconds, 4)})
        summary.reconstructed += 1
        if on_clip:
            on_clip("reconstruct", label, clip.id)
    return keys


def row_summary(metric: str, rows: list[dict[str, Any]], settings: EvalSettings) -> dict[str, Any]:
    """Mean and bootstrap CI of a per-clip metric over the rows (same conventions as evaluate_pairs)."""
    from benchmarks.metrics.bootstrap import bootstrap_mean_ci
    from benchmarks.metrics.evaluate import NOT_COMPUTED, SPECTRAL_SPECS, MetricSummary, spectral_details

    values = [store.read_number(r.get(metric)) for r in rows]
    valid = np.array([v for v in values if v is not None], dtype=np.float64)
    skipped = {
        r["clip"]: r.get("reasons", {}).get(metric, "not computed") for r, v in zip(rows, values) if v is None
    }
    if not valid.size:
        reasons = sorted(set(skipped.values()))
        return MetricSummary(metric, NOT_COMPUTED, reason="; ".join(reasons) or "no clips").to_dict()
    details: dict[str, Any] = {}
    if metric == "sisdr":
        details = {
            "unit": "dB",
            "n_infinite": int(np.isposinf(valid).sum()),
            "ceiling_db": settings.sisdr_ceiling_db,
        }
        valid = np.minimum(valid, settings.sisdr_ceiling_db)
    elif metric in SPECTRAL_SPECS:
        details = spectral_details(metric)
    else:
        details = {"unit": "MOS-LQO"}
    ci = bootstrap_mean_ci(valid, settings.n_boot, settings.seed, settings.ci_level)
    return MetricSummary(
        metric, "ok", value=float(valid.mean()), ci=ci, n=int(valid.size), skipped=skipped, details=details
    ).to_dict()


def score_model(
    cfg: TablesConfig,
    metrics: list[str],
    clips: list[Clip],
    rows: dict[str, dict[str, Any]],
    folder: Path,
    embedders: dict[str, Any],
    reasons: dict[str, str],
    progress: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metric → summary dict, metric → per-clip FAD list) for one model's reconstructions of all clips:
    per-clip metrics summarised from `rows`, FADs computed over the set."""
    from benchmarks.metrics.evaluate import ClipPair, EvalConfig, MetricSummary, evaluate_pairs

    ordered = [rows[c.id] for c in clips]
    out: dict[str, Any] = {}
    per_clip: dict[str, Any] = {}
    fad = [m for m in metrics if m in embedders]
    fad_results = None
    if fad:
        cache = Path(cfg.cache_dir).expanduser()
        pairs = [ClipPair(c.id, c.reference, recon_file(folder, c)) for c in clips]
        ecfg = EvalConfig(
            n_boot=cfg.eval.n_boot,
            fad_n_boot=cfg.eval.fad_n_boot,
            ci_level=cfg.eval.ci_level,
            seed=cfg.eval.seed,
            cache_dir=str(cache / "embeddings"),
        )
        fad_results = evaluate_pairs(
            pairs, fad, ecfg, embedders={m: embedders[m] for m in fad}, progress=progress
        )
    for m in metrics:
        if m in PER_CLIP_METRICS:
            out[m] = row_summary(m, ordered, cfg.eval)
        elif fad_results is not None and m in fad_results.summaries:
            out[m] = fad_results.summaries[m].to_dict()
            if not m.startswith("kad-"):  # per-song FAD; KAD is set-level only
                per_clip[m] = [store.json_number(v) for v in fad_results.per_clip[m]]
        else:
            out[m] = MetricSummary(m, "not computed", reason=reasons.get(m, "unavailable")).to_dict()
    return out, per_clip
