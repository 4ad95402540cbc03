"""Quality metrics for reconstructions: SI-SDR, ViSQOL, multi-scale mel/STFT distances, and Fréchet and
kernel audio distances (FAD, KAD) with pluggable embedders.

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
    # The function that computes it: `benchmarks.metrics.clip_scores.<scorer>` for per-clip metrics,
    # `benchmarks.metrics.set_scores.<scorer>` for set-level ones (fad, kad). Named, not imported, so that
    # the renderers can read the specs without loading ViSQOL or the embedders.
    scorer: str = "fad"
    per_clip: bool = False  # True: one value per clip (averaged); False: one value per set (FAD, KAD)
    embedder: str | None = None  # set-level metrics: the embedder registry key (KAD reuses FAD's embedders)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def tex_arrow(self) -> str:
        return r"$\uparrow$" if self.higher_is_better else r"$\downarrow$"


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("sisdr", "SI-SDR", "SI-SDR", True, 2, scorer="sisdr", per_clip=True),
        MetricSpec("visqol", "ViSQOL", "ViSQOL", True, 2, scorer="visqol", per_clip=True),
        MetricSpec("mel-distance", "Mel dist.", "Mel dist.", False, 3, scorer="spectral", per_clip=True),
        MetricSpec("stft-distance", "STFT dist.", "STFT dist.", False, 3, scorer="spectral", per_clip=True),
        MetricSpec("fad-clap", "FAD_clap", r"FAD$_\text{clap}$", False, 3, embedder="fad-clap"),
        MetricSpec("fad-vggish", "FAD", "FAD", False, 3, embedder="fad-vggish"),
        MetricSpec("fad-musicnn", "FAD_musicnn", r"FAD$_\text{musicnn}$", False, 3, embedder="fad-musicnn"),
        MetricSpec("kad-clap", "KAD_clap", r"KAD$_\text{clap}$", False, 3, "kad", embedder="fad-clap"),
        MetricSpec("kad-vggish", "KAD_vggish", r"KAD$_\text{vggish}$", False, 3, "kad", embedder="fad-vggish"),
        MetricSpec("kad-musicnn", "KAD_musicnn", r"KAD$_\text{musicnn}$", False, 3, "kad", embedder="fad-musicnn"),
    )
}
PER_CLIP_METRICS = tuple(name for name, m in METRICS.items() if m.per_clip)
SET_METRICS = tuple(name for name, m in METRICS.items() if m.embedder is not None)  # FADs and KADs
FAD_METRICS = tuple(name for name in SET_METRICS if name.startswith("fad-"))


def metric_spec(metric: str) -> MetricSpec:
    """The spec of a metric; a name that only an embedder registers (a user's FAD embedder) is a FAD."""
    spec = METRICS.get(metric)
    if spec is None:
        spec = MetricSpec(metric, metric.upper(), metric.upper(), False, 3, "fad", embedder=metric)
    return spec


def embedder_key(metric: str) -> str:
    """The embedder registry key a set-level metric uses ("kad-clap" → "fad-clap"); the name itself otherwise."""
    spec = METRICS.get(metric)
    return spec.embedder if spec is not None and spec.embedder else metric
