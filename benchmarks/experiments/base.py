"""What every experiment's run function takes (RunOptions) and returns (RunSummary)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import store

log = logging.getLogger(__name__)
ClipHook = Callable[[str, str, str], None]  # (stage, model label, clip id), called after each unit of work


@dataclass
class RunOptions:
    progress: bool = True  # tqdm bars
    on_clip: ClipHook | None = None  # tests: interrupt a run after some units of work
    shard: tuple[int, int] = (0, 1)  # (i, n): every n-th clip from i (experiments declared shardable only)


@dataclass
class RunSummary:
    """What a run computed, reused and skipped, printed at the end."""

    name: str = "table2"  # which experiment
    reconstructed: int = 0
    reused_reconstructions: int = 0
    rows_computed: int = 0
    rows_reused: int = 0
    aggregates_computed: int = 0
    aggregates_reused: int = 0
    skipped_models: dict[str, str] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)  # metric → reason
    seconds: float = 0.0
    result_file: str | None = None  # set when the run wrote (or kept) its result file: the runner renders it
    tables: list[str] = field(default_factory=list)  # files rendered from it (filled in by the runner)
    notes: list[str] = field(default_factory=list)  # experiment-specific lines
    timings: dict[str, float] = field(default_factory=dict)  # stage → seconds spent computing (not reusing)

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add_time(stage, time.perf_counter() - start)

    @property
    def computed(self) -> int:
        """Units of work done in this run (0: everything was reused)."""
        return self.reconstructed + self.rows_computed + self.aggregates_computed

    def text(self) -> str:
        rows = {"table2": "per-clip metric rows", "seams": "per-clip seam rows", "speed": "timed models"}
        aggs = {"table2": "model aggregates"}
        counters = [
            ("reconstructions", self.reconstructed, self.reused_reconstructions, " (unchanged inputs)"),
            (rows.get(self.name, "rows"), self.rows_computed, self.rows_reused, ""),
            (
                aggs.get(self.name, "points (model variants scored)"),
                self.aggregates_computed,
                self.aggregates_reused,
                "",
            ),
        ]
        lines = [f"{self.name} summary ({self.seconds:.1f} s):"]
        lines += [
            f"  {what}: {done} computed, {reused} reused{why}"
            for what, done, reused, why in counters
            if self.name == "table2" or done or reused
        ]
        lines += [f"  {note}" for note in self.notes]
        stages = sorted(self.timings.items(), key=lambda kv: -kv[1])
        kinds: dict[str, float] = {}
        for stage, seconds in stages:  # "reconstruct: <model>" → "reconstruct"
            kinds[stage.split(":")[0]] = kinds.get(stage.split(":")[0], 0.0) + seconds
        if len(kinds) < len(stages):
            lines.append("  time by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in kinds.items()))
        for stage, seconds in stages[:8]:
            lines.append(f"  time {seconds:8.1f} s  {stage}")
        if len(stages) > 8:
            rest = sum(seconds for _, seconds in stages[8:])
            lines.append(f"  time {rest:8.1f} s  ({len(stages) - 8} more stages)")
        for label, why in self.skipped_models.items():
            lines.append(f"  skipped model {label}: {why}")
        for metric, why in self.not_computed.items():
            lines.append(f"  not computed {metric}: {why}")
        if self.result_file:
            lines.append(f"  results: {self.result_file}")
        for t in self.tables:
            lines.append(f"  table: {t}")
        return "\n".join(lines)


def finish(
    summary: Any, result_file: Path, result: dict[str, Any], started: float, force: bool = False
) -> Any:
    """Write the result file (always when `force`d, else only when more than its date changed) and record it
    and the run's duration in the summary."""
    store.write_result(result_file, result, force=force)
    summary.result_file = str(result_file)
    summary.seconds = time.time() - started
    return summary


def skip_summary(name: str, why: str) -> RunSummary:
    """A summary for an experiment that could not run at all."""
    s = RunSummary(name=name)
    s.notes.append(f"skipped: {why}")
    log.info("%s: skipped: %s", name, why)
    return s
