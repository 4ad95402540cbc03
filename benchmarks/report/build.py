"""Assemble the listening report of one configuration from its Table II results (see the package docstring).

Reconstructions come from the tables' cache (`<cache_dir>/recon/<config>/<model>/`); a clip missing there is
reconstructed with the same code and key as Table II, so `m2l2 report` also works on a fresh clone that has
only the committed result files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.config import ModelSpec, TablesConfig
from benchmarks.metrics import METRICS
from benchmarks.report import assets
from benchmarks.report.cells import footnote_lines, legend, metric_cells
from benchmarks.report.checkpoints import denoiser_checkpoint
from benchmarks.report.page import INVESTIGATION, ClipView, DenoiserView, ModelView, Page, render_page
from benchmarks.report.select import Pick, pick_clips
from m2l2.errors import M2L2Error
from m2l2.io import write_text

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]  # the checkout: the report links its docs/
FAD_SAMPLE_SIZE = (
    "FAD falls as the number of clips grows, so compare FADs only at equal n (as the tables' captions say)"
)


@dataclass
class ReportSummary:
    path: Path
    bytes: int
    seconds: float
    audio_files: int
    images: int
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"{self.path}: {self.bytes / 1e6:.1f} MB in {self.audio_files} excerpts and {self.images} images "
            f"({self.seconds:.0f} s)"
        ]
        return "\n".join([*lines, *(f"  note: {n}" for n in self.notes)])


def report_dir(cfg: TablesConfig) -> Path:
    return Path(cfg.output_dir) / "report" / store.slug(cfg.name)


def _per_clip(df: Any, label: str) -> dict[str, dict[str, float]]:
    """metric → clip → value of one model's Table II rows (SI-SDR, ViSQOL, per-song FADs, ...)."""
    rows = df[
        (df["experiment"] == "table2")
        & (df["level"] == "clip")
        & (df["model"] == label)
        & (df["status"] == "ok")
    ]
    out: dict[str, dict[str, float]] = {}
    for metric, group in rows.groupby("metric"):
        out[str(metric)] = dict(zip(group["clip"], group["value"].astype(float)))
    return out


def choose(per_clip: dict[str, dict[str, float]]) -> list[Pick]:
    """Best/median/worst by SI-SDR and by the first FAD metric that has per-song values."""
    picks = pick_clips(per_clip["sisdr"], "sisdr") if "sisdr" in per_clip else []
    fads = [m for m in per_clip if m.startswith("fad-")]
    if fads:
        first = sorted(fads, key=list(METRICS).index)[0]
        picks += pick_clips(per_clip[first], first)
    return picks


def _href(target: Path, out: Path) -> str:
    """A link from the page in `out` to `target`, relative so that the page works wherever it is opened."""
    return Path(os.path.relpath(target.resolve(), out.resolve())).as_posix()


def _denoiser_view(entry: dict[str, Any], out: Path) -> DenoiserView | None:
    """The denoiser note of a row whose checkpoint was trained with Δt = 1 (links to the training
    investigation and the checkpoint's model card, where they exist)."""
    found = denoiser_checkpoint(entry)
    if found is None:
        return None
    doc = REPO / INVESTIGATION
    return DenoiserView(
        found.name,
        _href(doc, out) if doc.is_file() else None,
        _href(found.card, out) if found.card else None,
    )


def _fig3_caption(cfg: TablesConfig, table2_clips: int, notes: list[str]) -> str:
    """Why Fig. 3's FAD at a setting differs from Table II's: FAD falls as the number of clips grows, and
    the two are measured on different numbers of clips (read from their result files)."""
    path = store.result_path(cfg.output_dir, "fig3", cfg.name)
    try:
        clips = int(store.read_result(path)["dataset"]["clips"])
    except M2L2Error as e:
        notes.append(f"Fig. 3's clip count not read: {e}")
        return FAD_SAMPLE_SIZE + "."
    except (KeyError, TypeError, ValueError):
        notes.append(f"Fig. 3's clip count not read: no dataset.clips in {path}")
        return FAD_SAMPLE_SIZE + "."
    if clips == table2_clips:
        return f"Fig. 3 and Table II are both measured on {clips} clips, so their FADs compare."
    return (
        f"Fig. 3 is measured on {clips} clips and Table II on {table2_clips}, so the same setting has a "
        f"different FAD in each: {FAD_SAMPLE_SIZE}."
    )


def _model_clips(
    cfg: TablesConfig,
    spec: ModelSpec,
    entry: dict[str, Any],
    picks: list[Pick],
    clips: dict[str, Any],
    out: Path,
    progress: bool,
    notes: list[str],
) -> list[ClipView]:
    """Excerpts and spectrograms of the picked clips, original and reconstruction."""
    from benchmarks.building import build_model, model_identity
    from benchmarks.experiments.base import RunSummary
    from benchmarks.experiments.scoring import recon_file, recon_folder, reconstruct_clips
    from m2l2.audio import load_audio

    ae, why = build_model(spec, cfg.allow_random)
    if ae is None:
        notes.append(f"{spec.label}: no excerpts ({why})")
        return []
    model_key = store.key(model_identity(spec, ae))
    if model_key != entry.get("model_key"):
        notes.append(
            f"{spec.label}: the model's identity differs from the one these numbers were computed with "
            "(rerun `m2l2 tables`); the excerpts are the current model's"
        )
    chosen = list(dict.fromkeys(p.clip for p in picks if p.clip in clips))
    folder = recon_folder(cfg, spec.label)
    reconstruct_clips(
        cfg, ae, model_key, [clips[c] for c in chosen], folder, RunSummary(), progress, None, spec.label
    )
    views = []
    for clip_id in chosen:
        clip = clips[clip_id]
        name = store.slug(clip_id)
        original, sr = clip.load()
        recon, rsr = load_audio(recon_file(folder, clip))
        a, b = assets.excerpt(original, sr), assets.excerpt(recon, rsr)
        db_a, db_b = assets.log_spectrogram(a), assets.log_spectrogram(b)
        top = float(db_a.max())
        orig_audio, orig_image = (
            out / "media" / "original" / f"{name}.ogg",
            out / "media" / "original" / f"{name}.png",
        )
        if not orig_audio.is_file():
            assets.write_opus(orig_audio, a, sr)
        if not orig_image.is_file():
            assets.write_spectrogram(orig_image, db_a, sr, a.shape[-1] / sr, top)
        model_dir = out / "media" / store.slug(spec.label)
        rec_audio = assets.write_opus(model_dir / f"{name}.ogg", b, rsr)
        rec_image = assets.write_spectrogram(model_dir / f"{name}.png", db_b, rsr, b.shape[-1] / rsr, top)
        views.append(
            ClipView(
                clip_id,
                [p.caption() for p in picks if p.clip == clip_id],
                *(p.relative_to(out).as_posix() for p in (orig_audio, orig_image, rec_audio, rec_image)),
            )
        )
    return views


def build_report(cfg: TablesConfig, out: Path | None = None, progress: bool = True) -> ReportSummary:
    """Write `<output_dir>/report/<config>/index.html` and its media; returns its size and what was left out."""
    from benchmarks import results
    from benchmarks.evalset import clips_for
    from benchmarks.experiments.table2 import result_file

    t0 = time.time()
    path = result_file(cfg)
    if not path.is_file():
        raise M2L2Error(
            f"no Table II results ({path}): run `m2l2 tables --config {cfg.source or '...'}` first"
        )
    result = json.loads(path.read_text())
    df = results.load_dir(cfg.output_dir, cfg.name, experiments=("table2",))
    out = Path(out) if out is not None else report_dir(cfg)
    if (out / "media").is_dir():
        shutil.rmtree(out / "media")  # regenerated each time: picks follow the results
    clips = {c.id: c for c in clips_for(cfg, progress=progress)}
    entries = {m["label"]: m for m in result.get("models", [])}
    metrics = [m for m in result.get("metrics", []) if m in METRICS]
    notes: list[str] = []
    empty: list[str] = []  # why "n/c" cells are empty, numbered as in Table II's Markdown
    models = []
    for spec in cfg.models:
        entry = entries.get(spec.label)
        if entry is None:
            why = result.get("skipped_models", {}).get(spec.label, "not in the Table II results")
            models.append(ModelView(spec.label, {}, [], f"not evaluated: {why}"))
            continue
        cells = metric_cells(entry, metrics, empty)
        if spec.kind == "reference":
            models.append(
                ModelView(spec.label, cells, [], "reference row (its reconstruction is the original)")
            )
            continue
        picks = choose(_per_clip(df, spec.label))
        views = _model_clips(cfg, spec, entry, picks, clips, out, progress, notes)
        models.append(
            ModelView(
                spec.label, cells, views, None if views else "no clip to show", _denoiser_view(entry, out)
            )
        )
    fig3 = Path(cfg.output_dir) / "figures" / f"fig3_{cfg.name}.png"
    fig3_rel, fig3_caption = None, ""
    if fig3.is_file():
        (out / "media").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fig3, out / "media" / "fig3.png")
        fig3_rel = "media/fig3.png"
        fig3_caption = _fig3_caption(cfg, result["dataset"]["clips"], notes)
    else:
        notes.append(f"no Fig. 3 plot at {fig3} (run `m2l2 tables --only fig3`)")
    prov = result.get("provenance", {})
    page = Page(
        title=f"m2l2 listening report: {cfg.name}",
        dataset=f"{result['dataset']['name']} ({result['dataset'].get('split')}, {result['dataset']['clips']} clips)",
        provenance=f"Table II computed {prov.get('created', '?')} at commit "
        f"{str((prov.get('git') or {}).get('commit', '?'))[:10]}",
        metrics=metrics,
        models=models,
        legend=legend(result, metrics),
        footnotes=footnote_lines(empty),
        fig3=fig3_rel,
        fig3_caption=fig3_caption,
        notes=notes,
    )
    index = out / "index.html"
    write_text(index, render_page(page))
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "screenshot.png"]
    return ReportSummary(
        index,
        sum(p.stat().st_size for p in files),
        time.time() - t0,
        sum(p.suffix == ".ogg" for p in files),
        sum(p.suffix == ".png" for p in files),
        notes,
    )
