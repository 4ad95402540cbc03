"""The `table3:` section of a tables configuration as typed settings (tasks, feature models, seeds, probe)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.config import TablesConfig, build_dataclass, read_yaml, resolve_config_path
from benchmarks.experiments.table3.features import FeatureModelConfig
from benchmarks.experiments.table3.mlp import ProbeConfig
from benchmarks.experiments.table3.tasks import Task
from m2l2.errors import M2L2Error


@dataclass
class Table3Config:
    name: str
    tasks: list[Task]
    models: list[FeatureModelConfig]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    probe_workers: int | None = None  # processes training probes side by side (null: one per core)
    cache_dir: str = "~/.cache/m2l2/tables"
    output_dir: str = "results"
    build_suite: list[str] | None = None  # default-suite parts to build first when absent
    export_dir: str | None = None  # also write the embeddings in mir_ref's layout here (null: no export)
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out

    @property
    def result_file(self) -> Path:
        return store.result_path(self.output_dir, "table3", self.name)


def table3_config_from_dict(data: dict[str, Any], name: str, source: str | None = None) -> Table3Config:
    where = f"{source or 'configuration'}: table3"
    data = dict(data)
    data["tasks"] = [
        build_dataclass(Task, t, f"{where}.tasks[{i}]") for i, t in enumerate(data.get("tasks") or [])
    ]
    data["models"] = [
        build_dataclass(FeatureModelConfig, m, f"{where}.models[{i}]")
        for i, m in enumerate(data.get("models") or [])
    ]
    data["probe"] = build_dataclass(ProbeConfig, data.get("probe") or {}, f"{where}.probe")
    data.setdefault("name", name)
    cfg = build_dataclass(Table3Config, {**data, "source": source}, where)
    empty = [key for key in ("tasks", "models", "seeds") if not getattr(cfg, key)]
    if empty:
        raise M2L2Error(
            f"no {' or '.join(empty)} listed ({where}): list at least one task, one model and one seed"
        )
    return cfg


def load_table3_config(config: str | Path | None = None) -> Table3Config:
    """The `table3:` section of a tables configuration (a YAML path or a shipped name such as 'default')."""
    path = resolve_config_path(config)
    data = read_yaml(path)
    if "table3" not in data:
        raise M2L2Error(
            f"Table III is not configured, no table3: section ({path}): add one, or use a configuration "
            "that has one"
        )
    defaults = {k: data[k] for k in ("cache_dir", "output_dir") if k in data}
    return table3_config_from_dict(
        {**defaults, **(data["table3"] or {})}, data.get("name", path.stem), str(path)
    )


def as_table3_config(cfg: TablesConfig) -> Table3Config | None:
    """The `table3:` section of a tables configuration (None when it has none), with the configuration's
    name, cache and output folders as defaults."""
    if not cfg.table3:
        return None
    defaults = {"cache_dir": cfg.cache_dir, "output_dir": cfg.output_dir}
    return table3_config_from_dict({**defaults, **cfg.table3}, cfg.name, cfg.source)
