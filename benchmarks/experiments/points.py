"""FAD "points", shared by Table I and Fig. 3: one model variant's reconstructions of the evaluation set,
scored with set-level FADs.

Every finished point is kept in an append-only JSONL file, so an interrupted run resumes at the next point
and an unchanged point (same reconstruction keys, metrics, evaluation settings and embedders) is never
recomputed, nor its clips decoded: the keys are known before decoding. Reconstructions themselves are cached per clip (a point interrupted mid-way resumes at its
next clip).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.building import build_embedders, build_variant, is_random_weights, model_identity
from benchmarks.config import ModelSpec, TablesConfig, find_model
from benchmarks.evalset import Clip, clips_for
from benchmarks.experiments.base import RunOptions, RunSummary
from benchmarks.experiments.scoring import AGG_VERSION, recon_keys, reconstruct_clips, score_model
from benchmarks.metrics import PER_CLIP_METRICS
from benchmarks.provenance import provenance

log = logging.getLogger(__name__)
POINT_VERSION = "point-v1"  # bump when what a point stores changes
LATENT_MEMO = 512  # encoded clips kept per model in a sweep (more than the evaluation sets hold)


def music2latent2_models(cfg: TablesConfig, labels: list[str] | None = None) -> list[ModelSpec]:
    """The models named by `labels`, or every Music2Latent2 entry (the default model set of Fig. 3 and seams)."""
    if labels is not None:
        return [find_model(cfg, label) for label in labels]
    return [m for m in cfg.models if m.name.startswith("music2latent2")]


def build_music2latent2(
    cfg: TablesConfig, specs: list[ModelSpec]
) -> tuple[list[tuple[ModelSpec, Any]], dict[str, str]]:
    """Build each model once; those that cannot run, or are not Music2Latent2 (no chunked two-step decoder),
    are returned as label → reason."""
    built, skipped = [], {}
    for spec in specs:
        ae, why = build_variant(spec, cfg.allow_random)
        if ae is None:
            skipped[spec.label] = why or "unavailable"
            log.info("[%s] skipped: %s", spec.label, why)
        elif not hasattr(ae, "decoding"):
            skipped[spec.label] = "not a Music2Latent2 model (no chunked two-step decoder)"
        else:
            ae.latent_memo = LATENT_MEMO  # every variant decodes the same clips: encode each once
            built.append((spec, ae))
    return built, skipped


@dataclass
class Context:
    """What every point of one experiment run shares."""

    cfg: TablesConfig
    name: str  # experiment name: result folder and cache sub-folder
    clips: list[Clip]
    metrics: list[str]  # FAD metrics of this experiment
    embedders: dict[str, Any] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    summary: RunSummary = field(default_factory=RunSummary)
    opts: RunOptions = field(default_factory=RunOptions)

    @property
    def cache(self) -> Path:
        return Path(self.cfg.cache_dir).expanduser()

    @property
    def result_file(self) -> Path:
        return store.result_path(self.cfg.output_dir, self.name, self.cfg.name)

    @property
    def points_file(self) -> Path:
        return store.rows_dir(self.result_file) / "points.jsonl"

    def previous_points(self) -> dict[str, dict[str, Any]]:
        """Finished points of earlier runs by label (later lines win)."""
        return {
            p["label"]: p
            for p in store.read_rows(self.points_file.parent, self.points_file.name)
            if "label" in p
        }


def context(
    cfg: TablesConfig, name: str, metrics: list[str], max_clips: int | None, opts: RunOptions
) -> Context:
    skipped: dict[str, str] = {}
    clips = clips_for(cfg, max_clips, skipped, opts.progress)
    fad = [m for m in metrics if m not in PER_CLIP_METRICS]
    embedders, identities, reasons = build_embedders(fad)
    summary = RunSummary(name=name)
    summary.notes += [f"skipped clip {c}: {why}" for c, why in skipped.items()]
    summary.not_computed.update(reasons)
    log.info("%s (%s): %d clips of %s", name, cfg.name, len(clips), cfg.dataset.name)
    return Context(cfg, name, clips, fad, embedders, identities, reasons, summary, opts)


def evaluate_point(
    ctx: Context,
    label: str,
    spec: ModelSpec,
    ae: Any,
    recon_folder: Path,
    previous: dict[str, dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Reconstruct the clips with `ae` and score them with the context's FADs (reused when unchanged).

    The finished point is appended to the experiment's points file before it is returned.
    """
    cfg, clips = ctx.cfg, ctx.clips
    identity = model_identity(spec, ae)
    model_key = store.key(identity)
    keys = recon_keys(cfg, model_key, clips)
    agg_key = store.key(
        [
            POINT_VERSION,
            AGG_VERSION,
            [keys[c.id] for c in clips],
            ctx.metrics,
            dataclasses.asdict(cfg.eval),
            ctx.identities,
            ctx.reasons,
            extra or {},
        ]
    )
    prev = previous.get(label)
    if prev is not None and prev.get("aggregate_key") == agg_key:
        ctx.summary.aggregates_reused += 1  # its inputs are unchanged: nothing to decode or embed
        return prev
    reconstruct_clips(
        cfg, ae, model_key, clips, recon_folder, ctx.summary, ctx.opts.progress, ctx.opts.on_clip, label
    )
    rows = {c.id: {} for c in clips}
    with ctx.summary.timed(f"FAD: {label}"):
        metrics, per_clip = score_model(
            cfg, ctx.metrics, clips, rows, recon_folder, ctx.embedders, ctx.reasons, ctx.opts.progress
        )
    info = ae.info()
    point = {
        "label": label,
        "model": spec.label,
        "name": spec.name,
        "kind": spec.kind,
        "options": spec.options,
        **(extra or {}),
        "compression_ratio": info["compression_ratio"],
        "stereo": info["stereo"],
        "random_weights": is_random_weights(ae),
        "identity": identity,
        "model_key": model_key,
        "aggregate_key": agg_key,
        "clips": len(clips),
        "metrics": metrics,
        "per_clip_fad": per_clip,
    }
    store.append_row(ctx.points_file, json.loads(json.dumps(point, allow_nan=False)))
    ctx.summary.aggregates_computed += 1
    return point


def write_points_result(
    ctx: Context, table: str, points: list[dict[str, Any]], codes: dict[str, str], settings: Any
) -> RunSummary:
    """Write an experiment's result file (dataset, embedders, skips, provenance, settings, points) unless only
    its date changed; returns the context's summary with the file named."""
    cfg = ctx.cfg
    seen: dict[str, dict[str, Any]] = {}
    for p in points:
        seen.setdefault(p["model"], {"label": p["model"], "identity": p["identity"]})
    result = {
        **store.result_head(table, cfg, len(ctx.clips)),
        "metrics": ctx.metrics,
        "embedders": ctx.identities,
        "not_computed": ctx.reasons,
        "skipped_models": ctx.summary.skipped_models,
        "random_weights": sorted({p["model"] for p in points if p.get("random_weights")}),
        "provenance": provenance(
            list(seen.values()), {"aggregate": AGG_VERSION, "point": POINT_VERSION, **codes}
        ),
        "settings": dataclasses.asdict(settings),
        "points": points,
    }
    store.write_result(ctx.result_file, result)
    ctx.summary.result_file = str(ctx.result_file)
    return ctx.summary
