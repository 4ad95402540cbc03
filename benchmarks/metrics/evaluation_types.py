"""The data types of an evaluation: a (reference, estimate) pair, the settings, one metric's summary and
the whole result with its per-clip table, JSON and CSV forms."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.metrics.bootstrap import bootstrap_mean_ci
from benchmarks.store import json_number
from m2l2.io import write_text

NOT_COMPUTED = "not computed"

Source = Path | tuple[np.ndarray, int]  # a file, or in-memory [C, N] / [N] audio with its rate


@dataclass(frozen=True)
class ClipPair:
    clip: str  # identifier shown in the per-clip table (relative path for folders)
    reference: Source
    estimate: Source


@dataclass
class EvalConfig:
    """Settings of one evaluation; all of them go into the provenance of the results."""

    n_boot: int = 1000  # bootstrap replicates for per-clip means (SI-SDR, ViSQOL)
    fad_n_boot: int = 200  # bootstrap replicates for set-level FAD (each needs two matrix roots)
    ci_level: float = 0.95
    seed: int = 0
    fad_inf_steps: int = 25
    fad_inf_min_n: int = 500
    visqol_workers: int | None = None  # default: all cores
    cache_dir: str | None = None  # embedding cache; None keeps nothing on disk
    sisdr_ceiling_db: float = 100.0  # identical signals (+inf dB) count as this in the mean
    embedder_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. {"fad-clap": {...}}


@dataclass
class MetricSummary:
    """The aggregate of one metric over the clip set, or why it was not computed."""

    metric: str
    status: str  # "ok" or "not computed"
    reason: str | None = None
    value: float | None = None
    ci: tuple[float, float] | None = None
    n: int = 0  # clips that contributed
    skipped: dict[str, str] = field(default_factory=dict)  # clip → why it was left out
    details: dict[str, Any] = field(default_factory=dict)

    def display(self, digits: int = 3) -> str:
        if self.status != "ok" or self.value is None:
            return f"{NOT_COMPUTED} ({self.reason})"
        text = f"{self.value:.{digits}f}"
        if self.ci is not None:
            text += f" [{self.ci[0]:.{digits}f}, {self.ci[1]:.{digits}f}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci) if self.ci is not None else None
        return jsonable(out)


@dataclass
class Evaluation:
    clips: list[str]
    per_clip: dict[str, list[float | None]]  # metric → one value per clip (None: skipped / not computed)
    summaries: dict[str, MetricSummary]
    provenance: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)  # metric → compute time (not written to files)

    def rows(self) -> list[dict[str, Any]]:
        return [{"clip": c, **{m: v[i] for m, v in self.per_clip.items()}} for i, c in enumerate(self.clips)]

    def aggregates(self) -> dict[str, dict[str, Any]]:
        """One JSON-ready object per metric name."""
        return {m: s.to_dict() for m, s in self.summaries.items()}

    def to_json(self) -> dict[str, Any]:
        rows = [{k: json_number(v) for k, v in row.items()} for row in self.rows()]
        return {"aggregates": self.aggregates(), "per_clip": rows, "provenance": jsonable(self.provenance)}

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Save everything as JSON at `path` and the per-clip table as CSV next to it."""
        path = Path(path)
        write_text(path, json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        csv_path = path.with_suffix(".per_clip.csv")
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["clip", *self.per_clip])
            writer.writeheader()
            for row in self.rows():
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return path, csv_path

    def table(self) -> str:
        """A plain-text summary table; CI level and FAD provenance in the caption."""
        level = int(round(100 * self.provenance["config"]["ci_level"]))
        lines = [f"{'metric':<14} {'value [' + str(level) + '% CI]':<36} {'n':>6}  notes"]
        for name, s in self.summaries.items():
            notes = []
            if s.skipped:
                notes.append(f"{len(s.skipped)} skipped")
            if s.details.get("bandwidth") is not None:
                notes.append(f"bandwidth {s.details['bandwidth']:.4g} (reference median)")
            if "fad_inf" in s.details and s.details["fad_inf"] is not None:
                notes.append(f"FAD-inf {s.details['fad_inf']['score']:.3f}")
            if s.details.get("n_infinite"):
                notes.append(f"{s.details['n_infinite']} identical (counted as {s.details['ceiling_db']} dB)")
            lines.append(f"{name:<14} {s.display():<36} {s.n:>6}  {'; '.join(notes)}")
        for name, ident in self.provenance.get("embedders", {}).items():
            lines.append(f"  {name}: {ident}")
        return "\n".join(lines)


def jsonable(v: Any) -> Any:
    """Nested values with non-finite floats written as "inf"/"-inf"/null, so the JSON stays strict."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return json_number(float(v)) if isinstance(v, (float, np.floating)) else v


def not_computed(metric: str, reason: str) -> MetricSummary:
    return MetricSummary(metric, NOT_COMPUTED, reason=reason)


def mean_summary(
    metric: str,
    values: np.ndarray,
    config: EvalConfig,
    skipped: dict[str, str],
    empty_reason: str,
    details: dict[str, Any],
) -> MetricSummary:
    """A per-clip metric's summary: the mean of the valid values with its bootstrap CI over clips."""
    return MetricSummary(
        metric,
        "ok" if values.size else NOT_COMPUTED,
        reason=None if values.size else empty_reason,
        value=float(values.mean()) if values.size else None,
        ci=bootstrap_mean_ci(values, config.n_boot, config.seed, config.ci_level),
        n=int(values.size),
        skipped=skipped,
        details=details,
    )
