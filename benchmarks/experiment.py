"""Machinery shared by the experiments beyond Table II (Fig. 3, Table I, seams, speed).

An experiment names models of the configuration's `models` list by label, evaluates "points" (one model
variant's reconstructions of the evaluation set, scored with set-level FADs) and keeps every finished point
in an append-only JSONL file, so an interrupted run resumes at the next point and an unchanged point (same
reconstruction keys, metrics, evaluation settings and embedders) is never recomputed. Reconstructions
themselves are cached per clip by `benchmarks.pipeline` (a point interrupted mid-way resumes at its next clip).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.pipeline import (
    AGG_VERSION,
    PER_CLIP_METRICS,
    Clip,
    ClipHook,
    ModelConfig,
    RunSummary,
    TablesConfig,
    _aggregate,
    _build,
    _reconstruct,
    _sha,
    _slug,
    append_row,
    build_embedders,
    build_model,
    is_random_weights,
    load_clips,
    model_identity,
    read_rows,
)
from m2l2.errors import M2L2Error

POINT_VERSION = "point-v1"  # bump when what a point stores changes
RANDOM_LABEL = "random weights (test only)"


def settings(cls: type, cfg: TablesConfig, key: str) -> Any:
    """Parse the `key` section of a configuration into dataclass `cls` (unknown keys are errors)."""
    data = getattr(cfg, key) or {}
    try:
        return _build(cls, data, f"{cfg.source or 'configuration'}: {key}")
    except TypeError as e:
        raise M2L2Error(f"{cfg.source or 'configuration'}: {key}: {e}") from e


def find_model(cfg: TablesConfig, label: str) -> ModelConfig:
    """The entry of the configuration's `models` list with this label."""
    for spec in cfg.models:
        if spec.label == label:
            return spec
    raise M2L2Error(f"{cfg.source or 'configuration'}: no model labelled {label!r} in models "
                    f"(labels: {', '.join(m.label for m in cfg.models)})")


def music2latent2_models(cfg: TablesConfig, labels: list[str] | None = None) -> list[ModelConfig]:
    """The models named by `labels`, or every Music2Latent2 entry (the default model set of Fig. 3 and seams)."""
    if labels is not None:
        return [find_model(cfg, label) for label in labels]
    return [m for m in cfg.models if m.name.startswith("music2latent2")]


def build_music2latent2(cfg: TablesConfig, specs: list[ModelConfig]
                        ) -> tuple[list[tuple[ModelConfig, Any]], dict[str, str]]:
    """Build each model once; those that cannot run, or are not Music2Latent2 (no chunked two-step decoder),
    are returned as label → reason."""
    built, skipped = [], {}
    for spec in specs:
        ae, why = build_variant(spec, cfg.allow_random)
        if ae is None:
            skipped[spec.label] = why or "unavailable"
            print(f"[{spec.label}] skipped: {why}", flush=True)
        elif not hasattr(ae, "redecode_previous"):
            skipped[spec.label] = "not a Music2Latent2 model (no chunked two-step decoder)"
        else:
            built.append((spec, ae))
    return built, skipped


def fad_metrics(metrics: list[str]) -> list[str]:
    return [m for m in metrics if m not in PER_CLIP_METRICS]


def build_variant(spec: ModelConfig, allow_random: bool) -> tuple[Any | None, str | None]:
    """`pipeline.build_model` under a fixed seed, so that untrained models (`build: NAME`, test configurations
    only) get the same weights for every variant and every run."""
    from baselines.harness import seeded

    with seeded(0):
        return build_model(spec, allow_random)


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
    progress: bool = True
    on_clip: ClipHook | None = None

    @property
    def cache(self) -> Path:
        return Path(self.cfg.cache_dir).expanduser()

    @property
    def out_dir(self) -> Path:
        return Path(self.cfg.output_dir).expanduser() / self.name

    @property
    def result_file(self) -> Path:
        return self.out_dir / f"{_slug(self.cfg.name)}.json"

    @property
    def points_file(self) -> Path:
        return self.out_dir / _slug(self.cfg.name) / "points.jsonl"

    def previous_points(self) -> dict[str, dict[str, Any]]:
        """Finished points of earlier runs by label (later lines win)."""
        return {p["label"]: p for p in read_rows(self.points_file.parent, self.points_file.name) if "label" in p}


def clips_for(cfg: TablesConfig, max_clips: int | None, skipped: dict[str, str] | None = None) -> list[Clip]:
    clips = load_clips(cfg, Path(cfg.cache_dir).expanduser(), skipped)
    if not clips:
        raise M2L2Error(f"{cfg.dataset.name}: no clips to evaluate")
    return clips[:max_clips] if max_clips is not None else clips


def context(cfg: TablesConfig, name: str, metrics: list[str], max_clips: int | None, progress: bool,
            on_clip: ClipHook | None) -> Context:
    skipped: dict[str, str] = {}
    clips = clips_for(cfg, max_clips, skipped)
    fad = fad_metrics(metrics)
    embedders, identities, reasons = build_embedders(fad)
    summary = RunSummary(name=name)
    summary.notes += [f"skipped clip {c}: {why}" for c, why in skipped.items()]
    summary.not_computed.update(reasons)
    print(f"{name} ({cfg.name}): {len(clips)} clips of {cfg.dataset.name}", flush=True)
    return Context(cfg, name, clips, fad, embedders, identities, reasons, summary, progress, on_clip)


def evaluate_point(ctx: Context, label: str, spec: ModelConfig, ae: Any, recon_folder: Path,
                   previous: dict[str, dict[str, Any]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reconstruct the clips with `ae` and score them with the context's FADs (reused when unchanged).

    The finished point is appended to the experiment's points file before it is returned.
    """
    cfg, clips = ctx.cfg, ctx.clips
    identity = model_identity(spec, ae)
    model_key = _sha(identity)
    recon = _reconstruct(cfg, ae, model_key, clips, recon_folder, ctx.summary, ctx.progress, ctx.on_clip, label)
    agg_key = _sha([POINT_VERSION, AGG_VERSION, [recon[c.id] for c in clips], ctx.metrics,
                    dataclasses.asdict(cfg.eval), ctx.identities, ctx.reasons, extra or {}])
    prev = previous.get(label)
    if prev is not None and prev.get("aggregate_key") == agg_key:
        ctx.summary.aggregates_reused += 1
        return prev
    rows = {c.id: {} for c in clips}
    sub = dataclasses.replace(cfg, metrics=ctx.metrics)
    metrics, per_clip = _aggregate(sub, clips, rows, recon_folder, ctx.embedders, ctx.reasons, ctx.cache,
                                   ctx.progress)
    info = ae.info()
    point = {
        "label": label, "model": spec.label, "name": spec.name, "kind": spec.kind, "options": spec.options,
        **(extra or {}),
        "compression_ratio": info["compression_ratio"], "stereo": info["stereo"],
        "random_weights": is_random_weights(ae), "identity": identity, "model_key": model_key,
        "aggregate_key": agg_key, "clips": len(clips), "metrics": metrics, "per_clip_fad": per_clip,
    }
    append_row(ctx.points_file, json.loads(json.dumps(point, allow_nan=False)))
    ctx.summary.aggregates_computed += 1
    return point


def result_header(ctx: Context, table: str, points: list[dict[str, Any]], codes: dict[str, str]) -> dict[str, Any]:
    """The common part of an experiment's result file: dataset, embedders, skips and provenance."""
    from benchmarks.pipeline import provenance

    cfg, ds = ctx.cfg, ctx.cfg.dataset
    seen: dict[str, dict[str, Any]] = {}
    for p in points:
        seen.setdefault(p["model"], {"label": p["model"], "identity": p["identity"]})
    return {
        "table": table,
        "config_name": cfg.name,
        "config": cfg.as_dict(),
        "config_file": cfg.source,
        "dataset": {"name": ds.name, "split": ds.split, "clips": len(ctx.clips),
                    "root": str(Path(ds.root).expanduser()) if ds.root else None},
        "metrics": ctx.metrics,
        "embedders": ctx.identities,
        "not_computed": ctx.reasons,
        "skipped_models": ctx.summary.skipped_models,
        "random_weights": sorted({p["model"] for p in points if p.get("random_weights")}),
        "provenance": provenance(list(seen.values()), {"aggregate": AGG_VERSION, "point": POINT_VERSION, **codes}),
    }


def finish(ctx: Context, result: dict[str, Any], render_fn: Any, render: bool) -> RunSummary:
    """Write the result file (unless only its date changed) and render it; fill in the summary."""
    from benchmarks.pipeline import finish_result

    return finish_result(ctx.summary, ctx.result_file, result, render_fn if render else None,
                         Path(ctx.cfg.output_dir).expanduser())


def skip_summary(name: str, why: str) -> RunSummary:
    """A summary for an experiment that could not run at all."""
    s = RunSummary(name=name)
    s.notes.append(f"skipped: {why}")
    print(f"{name}: skipped: {why}", file=sys.stdout, flush=True)
    return s
