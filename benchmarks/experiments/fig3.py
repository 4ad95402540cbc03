"""Fig. 3: FAD of Music2Latent2's two-step decoding against the conditioning noise level σ_cond.

Every Music2Latent2 checkpoint of the configuration (or the labels in `fig3.models`) decodes the evaluation
set once per σ_cond value; each (model, σ_cond) point gets its set-level FAD per embedder with a bootstrap
interval. One-step decoding (the previous chunk is not re-decoded, `redecode_previous=False`) at
`fig3.one_step_sigma` is the reference line; the σ_cond values of `fig3.parallel` are also decoded in
parallel mode (all chunks at once, then each with its left neighbour; not in the paper), a dotted line. Points are resumable and reused when unchanged
(`benchmarks.experiments.points`). Result: `<output>/fig3/<config>.json`; figure: `<output>/figures/`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.config import ModelSpec, TablesConfig
from benchmarks.experiments.base import RunOptions, RunSummary, skip_summary
from benchmarks.experiments.points import (
    Context,
    build_music2latent2,
    context,
    evaluate_point,
    music2latent2_models,
    write_points_result,
)
from benchmarks.metrics import FAD_METRICS
from m2l2.autoencoder import DEFAULT_SIGMA_COND
from m2l2.errors import M2L2Error

SWEEP_VERSION = "fig3-v1"


@dataclass
class Fig3Settings:
    sigma_cond: list[float] = field(default_factory=lambda: [round(0.1 * i, 1) for i in range(11)])
    models: list[str] | None = None  # labels from `models`; None: every music2latent2 entry
    one_step: bool = True  # also decode without re-decoding the previous chunk (reference line)
    parallel: list[float] = field(
        default_factory=list
    )  # σ_cond values also decoded in parallel mode (a line)
    one_step_sigma: float = DEFAULT_SIGMA_COND  # σ_cond of the conditioning context in one-step decoding
    metrics: list[str] | None = None  # FAD metrics; None: the configuration's FAD metrics
    max_clips: int | None = None  # the first N clips of the evaluation set (decoding is slow on CPU)

    def __post_init__(self) -> None:
        if not self.sigma_cond or any(not 0.0 <= float(s) <= 80.0 for s in self.sigma_cond):
            raise M2L2Error(
                f"bad noise levels {self.sigma_cond} (fig3.sigma_cond): list one or more values from 0 to 80"
            )
        if any(not 0.0 <= float(s) <= 80.0 for s in self.parallel):
            raise M2L2Error(
                f"bad noise levels {self.parallel} (fig3.parallel): list values from 0 to 80, or none"
            )
        self.sigma_cond = [float(s) for s in self.sigma_cond]
        self.parallel = [float(s) for s in self.parallel]

    def variants(self) -> list[tuple[str, dict[str, Any]]]:
        """(mode, decoding options) of every curve point: two-step, parallel, then the one-step reference."""
        out = [("two-step", {"sigma_cond": s}) for s in self.sigma_cond]
        out += [("parallel", {"sigma_cond": s, "decode_mode": "parallel"}) for s in self.parallel]
        if self.one_step:
            out.append(("one-step", {"sigma_cond": self.one_step_sigma, "redecode_previous": False}))
        return out


def point_label(model: str, sigma: float, mode: str) -> str:
    return f"{model} | {mode} | sigma_cond={sigma:.2f}"


def point_folder(cfg: TablesConfig, model: str, mode: str, sigma: float) -> Path:
    """Where a point's reconstructions are cached (the renderer finds their embeddings through it)."""
    return (
        Path(cfg.cache_dir).expanduser()
        / "recon"
        / store.slug(cfg.name)
        / "fig3"
        / store.slug(model)
        / f"{mode}-{sigma:.3f}"
    )


def adapter_decoding(decoding: dict[str, Any]) -> dict[str, Any]:
    """The adapter's decoding options of one curve point: autoregressive two-step decoding unless the point's
    options (`Fig3Settings.variants`) say otherwise."""
    return {
        "redecode_previous": True,
        "decode_mode": "autoregressive",
        **decoding,
        "sigma_cond": float(decoding["sigma_cond"]),
    }


def model_points(
    ctx: Context, st: Fig3Settings, spec: ModelSpec, ae: Any, previous: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every curve point of one model. Each point decodes with a copy of `ae` that has the point's options
    (`with_decoding`), so `ae` itself is never changed while the copies share its model and latent memo."""
    points = []
    for mode, decoding in st.variants():
        sigma = decoding["sigma_cond"]
        point_ae = ae.with_decoding(**adapter_decoding(decoding))
        variant = dataclasses.replace(spec, options={**spec.options, **decoding})  # recorded: keys the cache
        label = point_label(spec.label, sigma, mode)
        folder = point_folder(ctx.cfg, spec.label, mode, sigma)
        points.append(
            evaluate_point(
                ctx, label, variant, point_ae, folder, previous, {"mode": mode, "sigma_cond": sigma}
            )
        )
    return points


def run(cfg: TablesConfig, st: Fig3Settings, opts: RunOptions) -> RunSummary:
    """Run (or resume) the σ_cond sweep of `cfg`; returns what was computed and skipped."""
    t0 = time.time()
    specs = music2latent2_models(cfg, st.models)
    if not specs:
        return skip_summary("fig3", "no Music2Latent2 model in the configuration")
    built, skipped = build_music2latent2(cfg, specs)  # loaded once; the points only change decoding options
    if not built:
        s = skip_summary("fig3", "no runnable Music2Latent2 model")
        s.skipped_models.update(skipped)
        return s
    fads = [m for m in cfg.metrics if m in FAD_METRICS]  # KAD columns are Table II's, not this experiment's
    ctx = context(cfg, "fig3", st.metrics or fads, st.max_clips, opts)
    ctx.summary.skipped_models.update(skipped)
    if not ctx.metrics:
        return skip_summary("fig3", "no FAD metric selected")
    previous = ctx.previous_points()
    points = [p for spec, ae in built for p in model_points(ctx, st, spec, ae, previous)]
    ctx.summary.notes.append(f"{len(points)} (model, sigma_cond) points over {len(specs)} model(s)")
    write_points_result(ctx, "fig3", points, {"sweep": SWEEP_VERSION}, st)
    ctx.summary.seconds = time.time() - t0
    return ctx.summary
