"""The experiments of `m2l2 tables` and their one registry.

Each experiment is declared once in `EXPERIMENTS`, in the order they run (Table II first: Table I reuses
its reconstructions): its settings class (the typed form of its configuration section), its run function,
its result file and its renderer, as lazy `module:object` references so that listing the experiments
imports nothing heavy. `run_experiment` runs one and then renders what it wrote; running never renders.

A run function is `run(cfg, settings, opts) -> summary`: `cfg` the tables configuration, `settings` its
section parsed, `opts` the RunOptions; the summary says what was computed, reused and skipped, and names
the result file when one was written. A renderer is `render(result_file, output_dir) -> [paths]`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.config import TablesConfig, parse_section
from benchmarks.experiments.base import RunOptions
from m2l2.errors import M2L2Error


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Experiment:
    name: str  # CLI name (`--only`), configuration section and result folder
    makes: str  # what it produces, for help texts
    run: str  # "module:function" of the run function
    render: str  # "module:function" of the renderer
    settings: str | None = None  # "module:Class" of the settings parsed from section `name` (None: none)
    parse: str | None = None  # "module:function" (cfg) -> settings, when parsing needs more than the section
    shardable: bool = False  # --shard splits its clips

    def result_file(self, cfg: TablesConfig) -> Path:
        return store.result_path(cfg.output_dir, self.name, cfg.name)

    def parse_settings(self, cfg: TablesConfig) -> Any:
        if self.parse is not None:
            return _resolve(self.parse)(cfg)
        return None if self.settings is None else parse_section(_resolve(self.settings), cfg, self.name)


_E = "benchmarks.experiments"
_R = "benchmarks.rendering"
EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(
        "table2", "Table II (reconstruction)", f"{_E}.table2:run", f"{_R}.table2:render", shardable=True
    ),
    Experiment(
        "table1",
        "Table I (summary vs ordered latents)",
        f"{_E}.table1:run",
        f"{_R}.table1:render",
        f"{_E}.table1:Table1Settings",
    ),
    Experiment(
        "fig3", "Fig. 3 (FAD vs sigma_cond)", f"{_E}.fig3:run", f"{_R}.fig3:render", f"{_E}.fig3:Fig3Settings"
    ),
    Experiment("seams", "chunk seams", f"{_E}.seams:run", f"{_R}.seams:render", f"{_E}.seams:SeamsSettings"),
    Experiment(
        "table3",
        "Table III (probing)",
        f"{_E}.table3.run:run",
        f"{_R}.table3:render",
        f"{_E}.table3.config:Table3Config",
        parse=f"{_E}.table3.config:as_table3_config",
    ),
    Experiment("speed", "speed", f"{_E}.speed:run", f"{_R}.speed:render", f"{_E}.speed:SpeedSettings"),
)
NAMES = tuple(e.name for e in EXPERIMENTS)


def get(name: str) -> Experiment:
    for e in EXPERIMENTS:
        if e.name == name:
            return e
    raise M2L2Error(f"unknown experiment {name!r} (experiment name): use one of {', '.join(NAMES)}")


def run_experiment(
    name: str, cfg: TablesConfig | None, opts: RunOptions | None = None, settings: Any = None
) -> Any:
    """Run experiment `name` of `cfg` (its section parsed unless `settings` is given), then render the result
    file it wrote into the output folder above it; returns the run's summary with the rendered files."""
    exp = get(name)
    if settings is None and cfg is not None:
        settings = exp.parse_settings(cfg)
    summary = _resolve(exp.run)(cfg, settings, opts or RunOptions())
    if summary.result_file:
        summary.tables = [str(p) for p in render_result(name, summary.result_file)]
    return summary


def render_result(name: str, result_file: str | Path) -> list[Path]:
    """Render an experiment's result file `<output>/<experiment>/<config>.json` into `<output>/`."""
    result_file = Path(result_file)
    return _resolve(get(name).render)(result_file, result_file.parent.parent)
