"""Table I: summary embeddings vs ordered latents at the same compression (the paper's ablation).

The two models are named by label in `table1.summary` / `table1.ordered` (entries of `models`); both decode
the evaluation set and get set-level FADs with bootstrap intervals. They must have the same compression
ratio, otherwise the comparison is refused. Reconstructions are shared with Table II when the model entry
is the same (same cache folder and keys). Result: `<output>/table1/<config>.json`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchmarks.building import build_variant
from benchmarks.config import TablesConfig, find_model
from benchmarks.experiments.base import RunOptions, RunSummary, skip_summary
from benchmarks.experiments.points import context, evaluate_point, write_points_result
from benchmarks.experiments.scoring import recon_folder
from benchmarks.metrics import FAD_METRICS

ABLATION_VERSION = "table1-v1"


@dataclass
class Table1Settings:
    summary: str | None = None  # label of the model with summary embeddings
    ordered: str | None = None  # label of the model with ordered latents
    metrics: list[str] | None = None  # FAD metrics; None: the configuration's FAD metrics
    max_clips: int | None = None


def run(cfg: TablesConfig, st: Table1Settings, opts: RunOptions) -> RunSummary:
    """Run (or resume) the ablation of `cfg`."""
    t0 = time.time()
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
        return skip_summary(
            "table1",
            f"compression differs (summary {ratios['summary']}x, ordered "
            f"{ratios['ordered']}x): the ablation compares equal compression only",
        )
    fads = [m for m in cfg.metrics if m in FAD_METRICS]  # KAD columns are Table II's, not this experiment's
    ctx = context(cfg, "table1", st.metrics or fads, st.max_clips, opts)
    if not ctx.metrics:
        return skip_summary("table1", "no FAD metric selected")
    previous = ctx.previous_points()
    points = []
    for role, spec in specs.items():
        folder = recon_folder(cfg, spec.label)  # Table II's: its reconstructions are reused
        points.append(evaluate_point(ctx, spec.label, spec, built[role], folder, previous, {"role": role}))
    write_points_result(ctx, "table1", points, {"ablation": ABLATION_VERSION}, st)
    ctx.summary.seconds = time.time() - t0
    return ctx.summary
