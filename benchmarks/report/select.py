"""Which clips a listener should hear: the best, median and worst clip of a model by a per-clip metric."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.metrics import METRICS

RANKS = ("best", "median", "worst")


@dataclass(frozen=True)
class Pick:
    clip: str
    metric: str  # "sisdr" or a FAD metric (its per-song values)
    rank: str  # best | median | worst
    value: float

    def caption(self) -> str:
        spec = METRICS[self.metric]
        title = spec.title if spec.per_clip else f"per-song {spec.title}"
        return f"{self.rank} {title}: {self.value:.{spec.digits}f}"


def pick_clips(values: dict[str, float], metric: str) -> list[Pick]:
    """Best, median and worst clip of `values` (clip → finite value), by the metric's declared direction.

    The median is the lower median (an actual clip); ties keep the clip order. Fewer than three clips give
    fewer picks, never the same clip twice for one metric."""
    finite = {c: float(v) for c, v in values.items() if v is not None and np.isfinite(v)}
    if not finite:
        return []
    clips = sorted(finite, key=lambda c: finite[c], reverse=METRICS[metric].higher_is_better)  # stable
    chosen = {"best": clips[0], "median": clips[(len(clips) - 1) // 2], "worst": clips[-1]}
    picks, seen = [], set()
    for rank in RANKS:
        clip = chosen[rank]
        if clip not in seen:
            seen.add(clip)
            picks.append(Pick(clip, metric, rank, finite[clip]))
    return picks
