"""Fig. 3: FAD of Music2Latent2's two-step decoding against the conditioning noise level σ_cond.

Every Music2Latent2 checkpoint of the configuration (or the labels in `fig3.models`) decodes the evaluation
set once per σ_cond value; each (model, σ_cond) point gets its set-level FAD per embedder with a bootstrap
interval. One-step decoding (the previous chunk is not re-decoded, `redecode_previous=False`) at
`fig3.one_step_sigma` is the reference line. Points are resumable and reused when unchanged
(`benchmarks.experiment`). Result: `<output>/fig3/<config>.json`; figure: `<output>/figures/`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.experiment import (
    build_music2latent2,
    context,
    evaluate_point,
    finish,
    music2latent2_models,
    result_header,
    settings,
    skip_summary,
)
from benchmarks.pipeline import ClipHook, RunSummary, TablesConfig, _slug
from m2l2.errors import M2L2Error

SWEEP_VERSION = "fig3-v1"


@dataclass
class Fig3Settings:
    sigma_cond: list[float] = field(default_factory=lambda: [round(0.1 * i, 1) for i in range(11)])
    models: list[str] | None = None  # labels from `models`; None: every music2latent2 entry
    one_step: bool = True  # also decode without re-decoding the previous chunk (reference line)
    one_step_sigma: float = 0.4  # σ_cond of the conditioning context in one-step decoding
    metrics: list[str] | None = None  # FAD metrics; None: the configuration's FAD metrics
    max_clips: int | None = None  # the first N clips of the evaluation set (decoding is slow on CPU)

    def __post_init__(self) -> None:
        if not self.sigma_cond or any(not 0.0 <= float(s) <= 80.0 for s in self.sigma_cond):
            raise M2L2Error(f"fig3.sigma_cond must be a non-empty list of noise levels >= 0, got {self.sigma_cond}")
        self.sigma_cond = [float(s) for s in self.sigma_cond]


def point_label(model: str, sigma: float, mode: str) -> str:
    return f"{model} | {mode} | sigma_cond={sigma:.2f}"


def run_fig3(cfg: TablesConfig, progress: bool = True, on_clip: ClipHook | None = None,
             render: bool = True) -> RunSummary:
    """Run (or resume) the σ_cond sweep of `cfg` and render Fig. 3; returns what was computed and skipped."""
    import time

    t0 = time.time()
    st: Fig3Settings = settings(Fig3Settings, cfg, "fig3")
    specs = music2latent2_models(cfg, st.models)
    if not specs:
        return skip_summary("fig3", "no Music2Latent2 model in the configuration")
    built, skipped = build_music2latent2(cfg, specs)  # loaded once; the variants only change decoding settings
    if not built:
        s = skip_summary("fig3", "no runnable Music2Latent2 model")
        s.skipped_models.update(skipped)
        return s
    ctx = context(cfg, "fig3", st.metrics or cfg.metrics, st.max_clips, progress, on_clip)
    ctx.summary.skipped_models.update(skipped)
    if not ctx.metrics:
        return skip_summary("fig3", "no FAD metric selected")
    previous = ctx.previous_points()
    points: list[dict[str, Any]] = []
    variants = [("two-step", s) for s in st.sigma_cond] + ([("one-step", st.one_step_sigma)] if st.one_step else [])
    for spec, ae in built:
        for mode, sigma in variants:
            options = {**spec.options, "sigma_cond": sigma}
            if mode == "one-step":
                options["redecode_previous"] = False
            ae.sigma_cond = float(sigma)
            ae.redecode_previous = mode == "two-step"
            variant = dataclasses.replace(spec, options=options)
            label = point_label(spec.label, sigma, mode)
            folder = ctx.cache / "recon" / _slug(cfg.name) / "fig3" / _slug(spec.label) / f"{mode}-{sigma:.3f}"
            points.append(evaluate_point(ctx, label, variant, ae, folder, previous,
                                         {"mode": mode, "sigma_cond": sigma}))
    if not points:
        ctx.summary.seconds = time.time() - t0
        ctx.summary.notes.append("no point computed: every model was skipped")
        return ctx.summary
    result = result_header(ctx, "fig3", points, {"sweep": SWEEP_VERSION})
    result["settings"] = dataclasses.asdict(st)
    result["points"] = points
    ctx.summary.notes.append(f"{len(points)} (model, sigma_cond) points over {len(specs)} model(s)")
    finish(ctx, result, _render, render)
    ctx.summary.seconds = time.time() - t0
    return ctx.summary


def _render(result_file: Path, out_dir: Path) -> list[Path]:
    from benchmarks.figures import plot_fig3
    from benchmarks.render import render_fig3

    return render_fig3(result_file, out_dir / "tables") + plot_fig3(result_file, out_dir / "figures")
