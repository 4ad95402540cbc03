"""Table I: summary embeddings vs ordered latents at the same compression (the paper's ablation).

The two models are named by label in `table1.summary` / `table1.ordered` (entries of `models`); both decode
the evaluation set and get set-level FADs with bootstrap intervals. They must have the same compression
ratio, otherwise the comparison is refused. Reconstructions are shared with Table II when the model entry
is the same (same cache folder and keys). Result: `<output>/table1/<config>.json`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.experiment import (
    build_variant,
    context,
    evaluate_point,
    find_model,
    finish,
    result_header,
    settings,
    skip_summary,
)
from benchmarks.pipeline import ClipHook, RunSummary, TablesConfig, _slug

ABLATION_VERSION = "table1-v1"


@dataclass
class Table1Settings:
    summary: str | None = None  # label of the model with summary embeddings
    ordered: str | None = None  # label of the model with ordered latents
    metrics: list[str] | None = None  # FAD metrics; None: the configuration's FAD metrics
    max_clips: int | None = None


def run_table1(cfg: TablesConfig, progress: bool = True, on_clip: ClipHook | None = None,
               render: bool = True) -> RunSummary:
    """Run (or resume) the ablation of `cfg` and render Table I."""
    t0 = time.time()
    st: Table1Settings = settings(Table1Settings, cfg, "table1")
    if not st.summary or not st.ordered:
        return skip_summary("table1", "table1.summary and table1.ordered (model labels) are not set")
    specs = {"summary": find_model(cfg, st.summary), "ordered": find_model(cfg, st.ordered)}
    built: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for role, spec in specs.items():
        ae, why = build_variant(spec, cfg.allow_random)
        if ae is None:
            skipped[spec.label] = why or "unavailable"
        else:
            built[role] = ae
    if skipped:
        s = skip_summary("table1", "the ablation needs both models")
        s.skipped_models.update(skipped)
        return s
    ratios = {role: round(ae.compression_ratio, 6) for role, ae in built.items()}
    if ratios["summary"] != ratios["ordered"]:
        return skip_summary("table1", f"compression differs (summary {ratios['summary']}x, ordered "
                                      f"{ratios['ordered']}x): the ablation compares equal compression only")
    ctx = context(cfg, "table1", st.metrics or cfg.metrics, st.max_clips, progress, on_clip)
    if not ctx.metrics:
        return skip_summary("table1", "no FAD metric selected")
    previous = ctx.previous_points()
    points = []
    for role, spec in specs.items():
        folder = ctx.cache / "recon" / _slug(cfg.name) / _slug(spec.label)  # same as Table II's: shared
        points.append(evaluate_point(ctx, spec.label, spec, built[role], folder, previous, {"role": role}))
    result = result_header(ctx, "table1", points, {"ablation": ABLATION_VERSION})
    result["settings"] = dataclasses.asdict(st)
    result["points"] = points
    finish(ctx, result, _render, render)
    ctx.summary.seconds = time.time() - t0
    return ctx.summary


def _render(result_file: Path, out_dir: Path) -> list[Path]:
    from benchmarks.render import render_table1

    return render_table1(result_file, out_dir / "tables")
