"""The schema of a `m2l2 tables` configuration (YAML → typed dataclasses), checked so that typos fail loudly.

Top level: the evaluation set (`dataset`), the models, the metrics and the evaluation settings shared by
every experiment. Each experiment's own section (`table1:`, `fig3:`, ...) is kept as written, so result
files record the configuration as the user gave it; the experiment registry (`benchmarks.experiments`)
parses it into that experiment's typed settings class.

`load_config` validates the whole file before any work starts (`benchmarks.config_check`): YAML syntax,
keys, types and ranges, model names and options, checkpoints, labels, metrics and every experiment section.
All problems are reported at once (`ConfigError`, one line each, with the YAML path and what is allowed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from m2l2.errors import M2L2Error

CONFIG_DIR = Path(__file__).parent / "configs"
MODEL_KINDS = ("reference", "codec", "autoencoder")  # decides which rows compete for bold/underline
T = TypeVar("T")


@dataclass
class DatasetConfig:
    name: str = "suite-music"  # a benchmarks.datasets name, or "folder" (every audio file under root)
    root: str | None = None
    split: str | None = "eval"
    build_suite: list[str] | None = None  # suite parts to build when absent
    max_clips: int | None = None


@dataclass
class ModelSpec:
    """One entry of `models`: a baselines registry name with its options, as a row of the tables."""

    name: str  # baselines registry name
    label: str = ""
    kind: str = "autoencoder"  # one of MODEL_KINDS
    options: dict[str, Any] = field(default_factory=dict)
    when_exists: str | None = None  # only run when this path exists (checkpoints not shipped)

    def __post_init__(self) -> None:
        self.label = self.label or self.name
        if self.kind not in MODEL_KINDS:
            raise M2L2Error(
                f"unknown kind {self.kind!r} of model {self.name!r} (models[].kind): use reference, codec or "
                "autoencoder"
            )


@dataclass
class EvalSettings:
    n_boot: int = 1000
    fad_n_boot: int = 200
    ci_level: float = 0.95
    seed: int = 0
    visqol_workers: int | None = None
    batch: int = 16
    sisdr_ceiling_db: float = 100.0


@dataclass
class TablesConfig:
    name: str
    dataset: DatasetConfig
    models: list[ModelSpec]
    metrics: list[str]
    eval: EvalSettings = field(default_factory=EvalSettings)
    cache_dir: str = "~/.cache/m2l2/tables"
    output_dir: str = "results"
    channel_mode: str = "downmix"
    allow_random: bool = (
        False  # tests only: run random-weights models (their rows are labelled, never published)
    )
    # Experiment sections as written; parsed into each experiment's settings class by the registry.
    fig3: dict[str, Any] = field(default_factory=dict)
    table1: dict[str, Any] = field(default_factory=dict)
    table2: dict[str, Any] = field(default_factory=dict)  # compare_to: a row label (default: best per column)
    seams: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)
    table3: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # the YAML file it came from

    @property
    def where(self) -> str:
        """How error messages name this configuration."""
        return self.source or "configuration"

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out


def resolve_config_path(config: str | Path | None) -> Path:
    """A YAML path, or the name of a shipped configuration ("default", "paper")."""
    if config is None:
        return CONFIG_DIR / "default.yaml"
    p = Path(config).expanduser()
    if p.is_file():
        return p
    shipped = CONFIG_DIR / f"{config}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
    raise M2L2Error(f"configuration not found ({config}): give a YAML file or one of: {names}")


class ConfigError(M2L2Error):
    """Every problem of a configuration; the CLI prints one `m2l2: error:` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping; a syntax error or a file that is not a mapping is one error naming line and column."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([f"invalid YAML, {what} ({where}): fix the syntax there"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"not a UTF-8 text file ({path}): save the configuration as UTF-8 YAML"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"expected a mapping of keys, got a {type(data).__name__} ({path}): see {CONFIG_DIR / 'default.yaml'}"]
        )
    return data


def load_config(config: str | Path | None = None) -> TablesConfig:
    """Parse a tables configuration from YAML after validating all of it (every problem at once)."""
    from benchmarks.config_check import problems_of

    path = resolve_config_path(config)
    data = read_yaml(path)
    problems = problems_of(data, str(path))
    if problems:
        raise ConfigError(problems)
    return config_from_dict(data, source=str(path))


def build_dataclass(cls: type[T], data: Any, where: str) -> T:
    """`cls(**data)` with one-line errors naming `where` and the known keys when a key is unknown."""
    if not isinstance(data, dict):
        raise M2L2Error(
            f"expected a mapping, got {type(data).__name__} ({where}): write it as key: value lines"
        )
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise M2L2Error(
            f"unknown keys {unknown} ({where}): remove them or use a known key: {', '.join(sorted(known))}"
        )
    try:
        return cls(**data)
    except TypeError as e:
        raise M2L2Error(
            f"invalid entry, {e} ({where}): give each required key a value of the right type"
        ) from e


def parse_section(cls: type[T], cfg: TablesConfig, key: str) -> T:
    """The `key` section of a configuration as dataclass `cls` (absent: all defaults)."""
    return build_dataclass(cls, getattr(cfg, key) or {}, f"{cfg.where}: {key}")


def config_from_dict(data: dict[str, Any], source: str | None = None) -> TablesConfig:
    where = source or "configuration"
    data = dict(data)
    data["dataset"] = build_dataclass(DatasetConfig, data.get("dataset") or {}, f"{where}: dataset")
    data["models"] = [
        build_dataclass(ModelSpec, m, f"{where}: models[{i}]") for i, m in enumerate(data.get("models") or [])
    ]
    data["eval"] = build_dataclass(EvalSettings, data.get("eval") or {}, f"{where}: eval")
    cfg = build_dataclass(TablesConfig, {**data, "source": source}, where)
    if not cfg.models:
        raise M2L2Error(f"no models listed ({where}: models): list at least one model")
    from benchmarks.metrics.evaluate import parse_metrics

    cfg.metrics = parse_metrics(cfg.metrics)
    return cfg


def find_model(cfg: TablesConfig, label: str) -> ModelSpec:
    """The entry of the configuration's `models` list with this label."""
    for spec in cfg.models:
        if spec.label == label:
            return spec
    raise M2L2Error(
        f"no model labelled {label!r} ({cfg.where}: models): use one of the labels "
        f"{', '.join(m.label for m in cfg.models)}"
    )
