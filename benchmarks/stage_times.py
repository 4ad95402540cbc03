"""The table printed on stderr at the end of `m2l2 tables`: each stage's wall time beside the time its model
forward passes took (autoencoders and embedders, `m2l2.speed.ModuleClock`).

The difference is what a stage spends outside the networks: audio decoding and resampling, codecs run as
programs, ViSQOL, hashing, cache and file I/O, start-up. It is the part that better code, not a faster
machine or a smaller model, can remove (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class StageTimes:
    """(stage, wall seconds, seconds inside torch module forward passes) in the order the stages ran."""

    rows: list[tuple[str, float, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        from m2l2.speed import ModuleClock

        start = time.perf_counter()
        clock = ModuleClock()
        try:
            with clock:
                yield
        finally:
            self.rows.append((name, time.perf_counter() - start, clock.seconds))

    def table(self) -> str:
        """Aligned text: one line per stage and a total."""
        lines = [
            "stage times (model forward = inside torch module forward passes: autoencoders and embedders)",
            f"  {'stage':8s} {'wall s':>9s} {'model forward s':>16s} {'share':>6s} {'other s':>9s}",
        ]
        rows = [*self.rows, ("total", sum(r[1] for r in self.rows), sum(r[2] for r in self.rows))]
        for name, wall, model in rows:
            share = f"{model / wall:.0%}" if wall > 0 else "-"
            lines.append(f"  {name:8s} {wall:9.1f} {model:16.1f} {share:>6s} {wall - model:9.1f}")
        return "\n".join(lines)
