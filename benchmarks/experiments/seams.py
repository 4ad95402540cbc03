"""Chunk seams (beyond the paper): is the error larger at chunk boundaries than inside chunks?

For each Music2Latent2 model, every clip is encoded once and decoded three times:

* `autoregressive`: the model's two-step chunked decoding (each chunk decoded with the previous one as
  context, the previous one re-decoded), as in every other experiment;
* `independent`: every chunk decoded alone from pure noise (first-chunk mode for every chunk, one batch),
  and the chunk waveforms concatenated;
* `parallel`: parallel decoding (not in the paper): every chunk alone, then one batched pass in which each
  chunk is decoded with its left neighbour re-noised to σ_cond (`m2l2.Music2Latent2.decode`).

The error measure is the log-spectral distance (LSD, dB) per STFT frame between original and
reconstruction, on the model's own frame grid (2048-sample Hann window, hop 512, frame f centred on sample
512·f + 256), with log powers floored 80 dB below the reference's loudest bin. A frame is a *boundary*
frame when its window spans a chunk boundary inside the clip (the `boundary_frames` frames each side of it),
an *inside* frame otherwise; frames within `boundary_frames` of the clip's start or end are in neither set.
Per clip: mean LSD over boundary frames and over inside frames; over clips: means with bootstrap intervals,
and the paired per-clip difference boundary − inside. Rows are appended per clip (resumable).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from benchmarks import store
from benchmarks.building import is_random_weights, model_identity
from benchmarks.config import EvalSettings, ModelSpec, TablesConfig
from benchmarks.evalset import Clip, clips_for
from benchmarks.experiments.base import RunOptions, RunSummary, finish, skip_summary
from benchmarks.experiments.points import build_music2latent2, music2latent2_models
from benchmarks.provenance import provenance
from m2l2.errors import M2L2Error

if TYPE_CHECKING:
    from baselines.adapters.music2latent2 import DecodingOptions

SEAMS_VERSION = (
    "seams-v2"  # v2: the parallel decoding mode  # bump when the error measure or the decoding modes change
)
MODES = ("autoregressive", "independent", "parallel")
HOP, WINDOW, CENTRE = 512, 2048, 256
FLOOR_DB = 80.0


@dataclass
class SeamsSettings:
    models: list[str] | None = None  # labels from `models`; None: every music2latent2 entry
    sigma_cond: float | None = None  # None: the model entry's own sigma_cond
    boundary_frames: int = 2  # frames each side of a chunk boundary that count as "boundary"
    max_clips: int | None = None

    def __post_init__(self) -> None:
        if self.boundary_frames < 1:
            raise M2L2Error(
                f"{self.boundary_frames} boundary frames (seams.boundary_frames): give at least 1"
            )


# ----------------------------------------------------------------------------------------------- measure


def frame_lsd(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """LSD in dB per STFT frame of [C, N] signals (channels pooled), frames whose centre lies in the signal."""
    import torch

    from m2l2 import spectral

    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))
    est = torch.from_numpy(np.ascontiguousarray(estimate, dtype=np.float32))
    n = ref.shape[-1]
    if est.shape != ref.shape:
        raise M2L2Error(
            f"reference {tuple(ref.shape)} and estimate {tuple(est.shape)} differ in shape (frame_lsd "
            "arguments): pass two [C, N] signals of the same shape"
        )
    frames = max(1, (n - CENTRE + HOP - 1) // HOP)  # frames with centre 512 f + 256 < n
    total = (frames - 1) * HOP + WINDOW
    pad = (spectral.LEFT_PAD, max(0, total - spectral.LEFT_PAD - n))

    def power_db(x: torch.Tensor) -> np.ndarray:
        spec = spectral.stft(torch.nn.functional.pad(x, pad))[..., :frames]
        return (10 * torch.log10(spec.abs().double() ** 2 + 1e-20)).numpy()  # [C, F, frames]

    r, e = power_db(ref), power_db(est)
    floor = r.max() - FLOOR_DB
    r, e = np.maximum(r, floor), np.maximum(e, floor)
    return np.sqrt(((r - e) ** 2).mean(axis=(0, 1)))


def boundary_masks(n_frames: int, chunk_frames: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(boundary, inside) boolean masks over frames; boundaries lie between frames k·chunk_frames − 1 and
    k·chunk_frames for k ≥ 1 inside the clip."""
    f = np.arange(n_frames)
    k = np.rint((f + 0.5) / chunk_frames)
    distance = np.abs(f + 0.5 - k * chunk_frames)
    interior = (k >= 1) & (k * chunk_frames <= n_frames - 1)
    boundary = interior & (distance <= width)
    edge = (f < width) | (f >= n_frames - width)
    return boundary, ~boundary & ~edge


def split_errors(errors: np.ndarray, chunk_frames: int, width: int) -> dict[str, Any]:
    """Mean error over boundary and inside frames of one clip (None when a set is empty)."""
    boundary, inside = boundary_masks(len(errors), chunk_frames, width)
    return {
        "boundary": float(errors[boundary].mean()) if boundary.any() else None,
        "inside": float(errors[inside].mean()) if inside.any() else None,
        "n_boundary": int(boundary.sum()),
        "n_inside": int(inside.sum()),
    }


def two_step_options(decoding: DecodingOptions) -> DecodingOptions:
    """The options every mode starts from: the model entry's own decoding (its σ_cond and steps) as
    autoregressive two-step decoding."""
    return decoding.replace(
        sigma_cond=float(decoding.sigma_cond),
        redecode_previous=True,
        independent_chunks=False,
        decode_mode="autoregressive",
    )


def decode_modes(ae: Any, audio: np.ndarray, two_step: DecodingOptions, seed: int) -> dict[str, np.ndarray]:
    """Autoregressive, independent-chunk and parallel reconstructions [C, N] of native-rate audio [C, N], each
    decoded with `two_step` changed only in what names the mode."""
    latent = ae.encode(audio)
    n = audio.shape[-1]
    return {
        "autoregressive": ae.decode(latent, length=n, options=two_step, seed=seed),
        "independent": ae.decode(
            latent, length=n, options=two_step.replace(independent_chunks=True), seed=seed
        ),
        "parallel": ae.decode(latent, length=n, options=two_step.replace(decode_mode="parallel"), seed=seed),
    }


# ----------------------------------------------------------------------------------------------- run


def _mean_ci(vals: np.ndarray, ev: EvalSettings) -> dict[str, Any]:
    from benchmarks.metrics.bootstrap import bootstrap_mean_ci

    if not vals.size:
        return {"value": None, "ci": None, "n": 0}
    ci = bootstrap_mean_ci(vals, ev.n_boot, ev.seed, ev.ci_level)
    return {
        "value": float(vals.mean()),
        "ci": [float(ci[0]), float(ci[1])] if ci is not None else None,
        "n": int(vals.size),
    }


def aggregate(rows: list[dict[str, Any]], ev: EvalSettings) -> dict[str, Any]:
    """Per mode: boundary, inside and paired difference over the clips that have both."""
    out: dict[str, Any] = {}
    for mode in MODES:
        stats: dict[str, Any] = {}
        pairs = [
            (r[mode]["boundary"], r[mode]["inside"])
            for r in rows
            if r[mode]["boundary"] is not None and r[mode]["inside"] is not None
        ]
        for i, part in enumerate(("boundary", "inside")):
            stats[part] = _mean_ci(np.array([p[i] for p in pairs], dtype=np.float64), ev)
        stats["difference"] = _mean_ci(np.array([b - i for b, i in pairs], dtype=np.float64), ev)
        stats["n_clips"] = len(pairs)
        out[mode] = stats
    return out


def result_file(cfg: TablesConfig) -> Path:
    """`<output>/seams/<config>.json`; its per-clip rows lie in the folder beside it (`store.rows_dir`)."""
    return store.result_path(cfg.output_dir, "seams", cfg.name)


def clip_row(
    ae: Any, label: str, clip: Clip, key: str, two_step: DecodingOptions, width: int, seed: int
) -> dict[str, Any]:
    """One clip's row: decoded in every mode, its boundary and inside errors per mode."""
    from baselines.harness import to_native

    audio, sr = clip.load()
    native = to_native(ae, audio, sr)
    row = {"model": label, "clip": clip.id, "key": key}
    for mode, est in decode_modes(ae, native, two_step, seed).items():
        row[mode] = split_errors(frame_lsd(native, est), ae.chunk_frames, width)
    return row


def model_entry(
    cfg: TablesConfig,
    st: SeamsSettings,
    opts: RunOptions,
    spec: ModelSpec,
    ae: Any,
    clips: list[Clip],
    existing: dict[tuple[Any, Any], dict[str, Any]],
    summary: RunSummary,
) -> dict[str, Any]:
    """One model's result: its per-clip rows (reused when their key is unchanged, else measured and appended
    to the rows file, so an interrupted run resumes at the next clip) and their aggregate."""
    rows_file = store.rows_dir(result_file(cfg)) / "per_clip.jsonl"
    identity = model_identity(spec, ae)
    model_key = store.key(identity)
    two_step = two_step_options(ae.decoding)
    sigma = two_step.sigma_cond
    rows = []
    for clip in tqdm(clips, desc=f"{spec.label}: seams", unit="clip", disable=not opts.progress):
        key = store.key([SEAMS_VERSION, clip.hash, model_key, sigma, st.boundary_frames, cfg.eval.seed])
        row = existing.get((spec.label, clip.id))
        if row is not None and row.get("key") == key:
            summary.rows_reused += 1
            rows.append(row)
            continue
        row = clip_row(ae, spec.label, clip, key, two_step, st.boundary_frames, cfg.eval.seed)
        store.append_row(rows_file, row)
        summary.rows_computed += 1
        rows.append(row)
        if opts.on_clip:
            opts.on_clip("seams", spec.label, clip.id)
    return {
        "label": spec.label,
        "name": spec.name,
        "identity": identity,
        "model_key": model_key,
        "sigma_cond": sigma,
        "chunk_frames": ae.chunk_frames,
        "chunk_seconds": ae.chunk_seconds,
        "random_weights": is_random_weights(ae),
        "clips": len(rows),
        "modes": aggregate(rows, cfg.eval),
    }


def run(cfg: TablesConfig, st: SeamsSettings, opts: RunOptions) -> RunSummary:
    """Measure boundary vs inside errors of every configured Music2Latent2 model (resumable per clip)."""
    t0 = time.time()
    specs = music2latent2_models(cfg, st.models)
    if not specs:
        return skip_summary("seams", "no Music2Latent2 model in the configuration")
    if st.sigma_cond is not None:
        specs = [dataclasses.replace(s, options={**s.options, "sigma_cond": st.sigma_cond}) for s in specs]
    built, skipped = build_music2latent2(cfg, specs)
    if not built:
        summary = skip_summary("seams", "no runnable Music2Latent2 model")
        summary.skipped_models = skipped
        return summary
    summary = RunSummary(name="seams", skipped_models=skipped)
    clips = clips_for(cfg, st.max_clips, progress=opts.progress)
    out_file = result_file(cfg)
    existing = {(r.get("model"), r.get("clip")): r for r in store.read_rows(store.rows_dir(out_file))}
    models_out = [model_entry(cfg, st, opts, spec, ae, clips, existing, summary) for spec, ae in built]
    result = {
        **store.result_head("seams", cfg, len(clips), with_root=False),
        "settings": dataclasses.asdict(st),
        "measure": "log-spectral distance (dB) per STFT frame (window 2048, hop 512), floor 80 dB below peak",
        "models": models_out,
        "skipped_models": summary.skipped_models,
        "random_weights": sorted(m["label"] for m in models_out if m["random_weights"]),
        "provenance": provenance(models_out, {"seams": SEAMS_VERSION}),
    }
    return finish(summary, out_file, result, t0)
