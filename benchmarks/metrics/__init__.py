"""Quality metrics for reconstructions: SI-SDR, ViSQOL and Fréchet audio distance with pluggable embedders.

`benchmarks.metrics.evaluate.evaluate_pairs` is the single entry point that computes any set of them and
returns a per-clip table plus aggregates with confidence intervals. `METRICS` declares, once, how each
metric is shown and which direction is better (the renderers read it to mark the best values).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    name: str
    title: str  # column title (Markdown), without the direction arrow
    tex_title: str  # column title (LaTeX), without the direction arrow
    higher_is_better: bool
    digits: int  # decimals shown in tables (ties are judged at this precision)
    per_clip: bool = False  # True: one value per clip (averaged); False: one value per set (FAD)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def tex_arrow(self) -> str:
        return r"$\uparrow$" if self.higher_is_better else r"$\downarrow$"


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("sisdr", "SI-SDR", "SI-SDR", True, 2, per_clip=True),
        MetricSpec("visqol", "ViSQOL", "ViSQOL", True, 2, per_clip=True),
        MetricSpec("fad-clap", "FAD_clap", r"FAD$_\text{clap}$", False, 3),
        MetricSpec("fad-vggish", "FAD", "FAD", False, 3),
        MetricSpec("fad-musicnn", "FAD_musicnn", r"FAD$_\text{musicnn}$", False, 3),
    )
}
PER_CLIP_METRICS = tuple(name for name, m in METRICS.items() if m.per_clip)
