"""Table II (reconstruction): every configured autoencoder reconstructs the evaluation set, scored per clip
(SI-SDR, ViSQOL) and per set (FADs), with provenance. Every step is resumable and skipped when its inputs
are unchanged:

* reconstructions are cached per clip (`benchmarks.experiments.scoring`);
* per-clip metric rows are appended, one JSON line per clip, to `<output>/table2/<config>/per_clip*.jsonl`
  and reused when their key (reconstruction key + metric settings + metric code version) matches, so an
  interrupted run continues where it stopped;
* a model's aggregates (means, bootstrap CIs, set-level FADs) are reused when the keys of all its rows, the
  metric settings and the embedders' identities are unchanged.

Shards (`shard=(i, n)`) reconstruct and score every n-th clip into their own JSONL file; a later run
without a shard merges the rows, computes the set-level metrics and writes `<output>/table2/<config>.json`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks import store
from benchmarks.building import build_embedders, build_model, is_random_weights, model_identity
from benchmarks.config import TablesConfig
from benchmarks.evalset import Clip, load_clips, no_clips_error
from benchmarks.experiments.base import RunOptions, RunSummary, finish
from benchmarks.experiments.scoring import (
    AGG_VERSION,
    RECON_VERSION,
    recon_file,
    recon_folder,
    recon_keys,
    reconstruct_clips,
    score_model,
)
from benchmarks.metrics import PER_CLIP_METRICS
from benchmarks.provenance import provenance
from m2l2.errors import M2L2Error

log = logging.getLogger(__name__)
ROWS_VERSION = "rows-v1"  # bump when per-clip metric code changes (SI-SDR / ViSQOL conventions)


def result_file(cfg: TablesConfig) -> Path:
    return store.result_path(cfg.output_dir, "table2", cfg.name)


def row_key(cfg: TablesConfig, recon_key: str) -> str:
    """The key of a clip's per-clip metric row: its reconstruction's key and the metric settings."""
    metrics = [m for m in cfg.metrics if m in PER_CLIP_METRICS]
    return store.key([ROWS_VERSION, recon_key, {"metrics": metrics, "ceiling": cfg.eval.sisdr_ceiling_db}])


def aggregate_key(cfg: TablesConfig, row_keys: list[str], identities, reasons) -> str:
    """The key of a model's aggregates (means, CIs, FADs): its rows' keys and the evaluation settings."""
    return store.key([AGG_VERSION, row_keys, cfg.metrics, dataclasses.asdict(cfg.eval), identities, reasons])


def reusable_rows(
    cfg: TablesConfig, clips: list[Clip], recon: dict[str, str], existing: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]] | None:
    """clip → row when every clip's row was computed from the reconstruction `recon` names, else None.
    Keys are known before anything is decoded, so a model whose rows and aggregates are all current
    needs no reconstruction at all (a fresh clone with the committed results decodes nothing here)."""
    rows = {c.id: existing.get(c.id) for c in clips}
    if all(r is not None and r.get("key") == row_key(cfg, recon[c]) for c, r in rows.items()):
        return rows  # type: ignore[return-value]
    return None


def score_rows(
    cfg: TablesConfig,
    clips: list[Clip],
    recon: dict[str, str],
    folder: Path,
    rows_file: Path,
    existing: dict[str, dict[str, Any]],
    summary: RunSummary,
    opts: RunOptions,
    label: str,
) -> dict[str, dict[str, Any]]:
    """Per-clip SI-SDR / ViSQOL rows for `clips`, appended as they are computed; returns clip → row."""
    from benchmarks.metrics.evaluate import ClipPair, EvalConfig, evaluate_pairs

    metrics = [m for m in cfg.metrics if m in PER_CLIP_METRICS]
    rows, pending = {}, []
    for clip in clips:
        key = row_key(cfg, recon[clip.id])
        row = existing.get(clip.id)
        if row is not None and row.get("key") == key:
            rows[clip.id] = row
            summary.rows_reused += 1
        else:
            pending.append((clip, key))
    if not metrics:
        for clip, key in pending:
            rows[clip.id] = {"model": label, "clip": clip.id, "key": key}
        return rows
    bar = tqdm(
        total=len(pending),
        desc=f"{label}: {'+'.join(metrics)}",
        unit="clip",
        disable=not opts.progress,
        file=sys.stdout,
    )
    ecfg = EvalConfig(
        n_boot=0,
        seed=cfg.eval.seed,
        visqol_workers=cfg.eval.visqol_workers,
        sisdr_ceiling_db=cfg.eval.sisdr_ceiling_db,
    )
    batch_size = max(1, cfg.eval.batch)
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        pairs = [ClipPair(c.id, c.reference, recon_file(folder, c)) for c, _ in batch]
        ev = evaluate_pairs(pairs, metrics, ecfg, progress=False)
        for m, seconds in ev.seconds.items():
            summary.add_time(f"{m}: {label}", seconds)
        for i, (clip, key) in enumerate(batch):
            row: dict[str, Any] = {"model": label, "clip": clip.id, "key": key, "reasons": {}}
            for m in metrics:
                row[m] = store.json_number(ev.per_clip[m][i])
                s = ev.summaries[m]
                if row[m] is None:
                    row["reasons"][m] = s.skipped.get(clip.id) or s.reason or "not computed"
            store.append_row(rows_file, row)
            rows[clip.id] = row
            summary.rows_computed += 1
            bar.update()
            if opts.on_clip:
                opts.on_clip("score", label, clip.id)
    bar.close()
    return rows


@dataclasses.dataclass
class _Inputs:
    """What one Table II run reads before any model: the clips, this shard's share, earlier results."""

    clips: list
    mine: list
    skipped_clips: dict[str, str]
    out_json: Path
    rows_dir: Path
    rows_file: Path
    previous: dict[str, dict[str, Any]]  # label → the model entry of the previous result file
    all_rows: dict[tuple[str, str], dict[str, Any]]  # (label, clip) → per-clip row


def _inputs(cfg: TablesConfig, shard: tuple[int, int], summary: RunSummary, progress: bool) -> _Inputs:
    index, count = shard
    if not (count >= 1 and 0 <= index < count):
        raise M2L2Error(f"bad shard {index}/{count} (option shard): use i/n with 0 <= i < n")
    out_json = result_file(cfg)
    rows_dir = store.rows_dir(out_json)
    rows_file = rows_dir / ("per_clip.jsonl" if count == 1 else f"per_clip.shard-{index}-of-{count}.jsonl")
    skipped_clips: dict[str, str] = {}
    clips = load_clips(cfg, Path(cfg.cache_dir).expanduser(), skipped_clips, progress)
    summary.notes += [f"skipped clip {c}: {why}" for c, why in skipped_clips.items()]
    if not clips:
        raise no_clips_error(cfg)
    mine = [c for i, c in enumerate(clips) if i % count == index]
    log.info("%s: %d clips of %s%s", cfg.name, len(clips), cfg.dataset.name,
             f", shard {index}/{count}: {len(mine)} clips" if count > 1 else "")
    old = store.read_previous(out_json) or {}
    try:
        previous = {m["label"]: m for m in old.get("models", [])}
    except (KeyError, TypeError):
        previous = {}
    all_rows = {(row.get("model"), row.get("clip")): row for row in store.read_rows(rows_dir)}  # later lines win
    return _Inputs(clips, mine, skipped_clips, out_json, rows_dir, rows_file, previous, all_rows)


def run(cfg: TablesConfig, settings: None = None, opts: RunOptions | None = None) -> RunSummary:
    """Run Table II for `cfg` (see the module docstring); returns what was computed, reused and skipped."""
    opts = opts or RunOptions()
    t_start = time.time()
    summary = RunSummary()
    inputs = _inputs(cfg, opts.shard, summary, opts.progress)
    sharded = opts.shard[1] > 1
    embedders: dict[str, Any] = {}
    identities: dict[str, str] = {}
    reasons: dict[str, str] = {}
    if not sharded:
        embedders, identities, reasons = build_embedders(cfg.metrics)
        summary.not_computed.update(reasons)
    models_out: list[dict[str, Any]] = []
    used_rows: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in cfg.models:
        ae, why = build_model(spec, cfg.allow_random)
        if ae is None:
            summary.skipped_models[spec.label] = why or "unavailable"
            log.info("[%s] skipped: %s", spec.label, why)
            continue
        entry, rows = _one_model(cfg, inputs, spec, ae, (embedders, identities, reasons), summary, opts)
        if entry is not None:
            models_out.append(entry)
            used_rows[spec.label] = rows
    if sharded:
        summary.seconds = time.time() - t_start
        log.info("shard %d/%d done: rows in %s; run without --shard to merge and render", *opts.shard,
                 inputs.rows_file)
        return summary
    store.compact_rows(inputs.rows_dir, inputs.all_rows, used_rows)
    result = _result(cfg, inputs, identities, reasons, models_out, summary)
    return finish(summary, inputs.out_json, result, t_start, force=bool(summary.aggregates_computed))


def _one_model(cfg: TablesConfig, inputs: _Inputs, spec, ae, evaluation, summary: RunSummary, opts: RunOptions):
    """(result entry, clip → row) of one model, or (None, None) in a shard (rows only). Nothing is decoded
    when its rows and aggregates are current; else missing reconstructions, rows and aggregates are made."""
    embedders, identities, reasons = evaluation
    sharded = opts.shard[1] > 1
    identity = model_identity(spec, ae)
    model_key = store.key(identity)
    folder = recon_folder(cfg, spec.label)
    existing = {clip: r for (label, clip), r in inputs.all_rows.items() if label == spec.label}
    prev = inputs.previous.get(spec.label)
    cached = None if sharded else reusable_rows(cfg, inputs.mine, recon_keys(cfg, model_key, inputs.mine), existing)
    if cached is not None and prev is not None and prev.get("aggregate_key") == aggregate_key(
        cfg, [cached[c.id]["key"] for c in inputs.clips], identities, reasons
    ):
        summary.rows_reused += len(cached)
        summary.aggregates_reused += 1
        return prev, cached
    recon = reconstruct_clips(cfg, ae, model_key, inputs.mine, folder, summary, opts.progress, opts.on_clip, spec.label)
    rows = score_rows(cfg, inputs.mine, recon, folder, inputs.rows_file, existing, summary, opts, spec.label)
    if sharded:
        return None, None
    used = {c.id: rows[c.id] for c in inputs.clips}
    agg_key = aggregate_key(cfg, [rows[c.id]["key"] for c in inputs.clips], identities, reasons)
    if prev is not None and prev.get("aggregate_key") == agg_key:
        summary.aggregates_reused += 1
        return prev, used
    with summary.timed(f"aggregates (FAD, CI): {spec.label}"):
        metrics, per_clip_fad = score_model(cfg, cfg.metrics, inputs.clips, rows, folder, embedders, reasons,
                                            opts.progress)
    summary.aggregates_computed += 1
    return _model_entry(spec, ae, identity, model_key, agg_key, len(inputs.clips), metrics, per_clip_fad), used


def _model_entry(spec, ae, identity, model_key: str, agg_key: str, clips: int, metrics, per_clip_fad) -> dict:
    """One model's entry of the result file."""
    info = ae.info()
    return {
        "label": spec.label,
        "name": spec.name,
        "kind": spec.kind,
        "options": spec.options,
        "compression_ratio": info["compression_ratio"],
        "stereo": info["stereo"],
        "pretrained": info["pretrained"] and not is_random_weights(ae),
        "identity": identity,
        "model_key": model_key,
        "aggregate_key": agg_key,
        "clips": clips,
        "metrics": metrics,
        "per_clip_fad": per_clip_fad,
    }


def _result(cfg: TablesConfig, inputs: _Inputs, identities, reasons, models_out, summary: RunSummary) -> dict:
    """The Table II result file's content."""
    return {
        **store.result_head("table2", cfg, len(inputs.clips)),
        "metrics": cfg.metrics,
        "embedders": identities,
        "not_computed": reasons,
        "models": models_out,
        "skipped_models": summary.skipped_models,
        # only when some were skipped, so result files of clean runs stay as they were
        **({"skipped_clips": inputs.skipped_clips} if inputs.skipped_clips else {}),
        "per_clip_rows": str(inputs.rows_dir / "per_clip*.jsonl"),
        "provenance": provenance(
            models_out, {"recon": RECON_VERSION, "rows": ROWS_VERSION, "aggregate": AGG_VERSION}
        ),
    }
