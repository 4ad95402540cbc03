"""Validation of a whole `m2l2 tables` configuration before any work starts: every problem at once.

A mistake in a configuration used to surface hours into a run, or never: a misspelled model name, option or
checkpoint path silently dropped a row, `max_clips: -3` was accepted, a wrong type gave a traceback. Here
the raw YAML mapping is checked in two passes, and each problem becomes one line in the error convention,
`<what> (<file>: <YAML path>): <what to do>`, with the allowed values or the nearest name:

1. shape: keys, types and ranges of the top level, `dataset`, `models[i]` and `eval` (a pydantic schema);
2. meaning: autoencoder names and their options, checkpoint paths, unique labels, metrics, and each
   experiment's section (parsed by the experiment registry, its model labels resolved).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from m2l2.errors import M2L2Error


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSchema(_Section):
    name: str = "suite-music"
    root: str | None = None
    split: str | None = "eval"
    build_suite: list[str] | None = None
    max_clips: int | None = Field(default=None, ge=1)


class ModelSchema(_Section):
    name: str
    label: str = ""
    kind: Literal["reference", "codec", "autoencoder"] = "autoencoder"
    options: dict[str, Any] = Field(default_factory=dict)
    when_exists: str | None = None


class EvalSchema(_Section):
    n_boot: int = Field(default=1000, ge=0)
    fad_n_boot: int = Field(default=200, ge=0)
    ci_level: float = Field(default=0.95, gt=0.0, lt=1.0)
    seed: int = 0
    visqol_workers: int | None = Field(default=None, ge=1)
    batch: int = Field(default=16, ge=1)
    sisdr_ceiling_db: float = Field(default=100.0, gt=0.0)


class _TablesTop(_Section):
    name: str
    dataset: DatasetSchema = Field(default_factory=DatasetSchema)
    models: list[ModelSchema] = Field(min_length=1)
    metrics: list[str] | str
    eval: EvalSchema = Field(default_factory=EvalSchema)
    cache_dir: str = "~/.cache/m2l2/tables"
    output_dir: str = "results"
    channel_mode: Literal["downmix", "per-channel"] = "downmix"
    allow_random: bool = False


def _experiment_sections() -> list[str]:
    """The experiment sections TablesConfig keeps as written (fig3, table1, ...): mappings, checked by the
    experiment registry in pass 2. Read from TablesConfig, so a new section needs no change here."""
    from benchmarks.config import TablesConfig

    return [f.name for f in dataclasses.fields(TablesConfig) if f.default_factory is dict]


TablesSchema = create_model(
    "TablesSchema", __base__=_TablesTop, **{name: (dict[str, Any] | None, None) for name in _experiment_sections()}
)


SECTION_FIELDS: dict[tuple[str, ...], type[BaseModel]] = {
    (): TablesSchema,
    ("dataset",): DatasetSchema,
    ("models",): ModelSchema,
    ("eval",): EvalSchema,
}
EXAMPLE = "benchmarks/configs/default.yaml"


def nearest(name: str, choices: list[str]) -> str:
    """' (did you mean X?)' when a choice is close to `name`, else ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def yaml_path(loc: tuple[Any, ...]) -> str:
    """('models', 1, 'name') → 'models[1].name'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _shape_problem(error: dict[str, Any], source: str) -> str:
    loc = tuple(error["loc"])
    where = f"{source}: {yaml_path(loc)}"
    if error["type"] == "extra_forbidden":
        section = tuple(p for p in loc[:-1] if not isinstance(p, int))
        allowed = sorted(SECTION_FIELDS[section].model_fields) if section in SECTION_FIELDS else []
        key = str(loc[-1])
        return f"unknown key {key!r} ({where}): remove it or use a known key{nearest(key, allowed)}: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"missing key {str(loc[-1])!r} ({where}): add it (see {EXAMPLE})"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else f"of type {type(value).__name__}"
    rule = error["msg"].replace("Input should be", "must be").replace("List should have", "must have")
    return f"invalid value {shown} ({where}): {rule}"


def shape_problems(data: dict[str, Any], source: str) -> list[str]:
    """Keys, types and ranges (pass 1)."""
    try:
        TablesSchema.model_validate(data)
    except ValidationError as e:
        return [_shape_problem(err, source) for err in e.errors()]
    return []


def problems_of(data: dict[str, Any], source: str) -> list[str]:
    """Every problem of a raw configuration mapping (empty: it is valid). Names are checked wherever their
    part has the right shape, so one run reports the typos and the type errors together."""
    if not data:
        return [
            f"the configuration is empty ({source}): it needs name, dataset, models and metrics; "
            f"start from {EXAMPLE}"
        ]
    shape = shape_problems(data, source)
    problems = list(shape)
    models = [m for m in data.get("models") or [] if isinstance(m, dict) and isinstance(m.get("name"), str)]
    problems += model_problems(models, source) if isinstance(data.get("models"), list) else []
    metrics = data.get("metrics")
    if isinstance(metrics, str) or (isinstance(metrics, list) and all(isinstance(m, str) for m in metrics)):
        problems += metric_problems(metrics, source)
    labels = list(dict.fromkeys(str(m.get("label") or m["name"]) for m in models))
    problems += label_problems(data, labels, source)
    if not shape:  # the sections parse only from a well-formed configuration
        problems += section_problems(data, source)
    return problems


# --- pass 2: what the names mean ------------------------------------------------------------------


def _adapter_parameters(spec: Any) -> list[str] | None:
    """The options an adapter's constructor takes (None: it takes any, or it cannot be imported here)."""
    try:
        target = spec.load_target()
        params = inspect.signature(target).parameters.values()
    except (M2L2Error, TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL]


def model_problems(models: list[dict[str, Any]], source: str) -> list[str]:
    """Registry names, options, checkpoint paths and unique labels of `models`."""
    from baselines.registry import specs

    known = specs()
    problems: list[str] = []
    labels: dict[str, int] = {}
    for i, m in enumerate(models):
        where = f"{source}: models[{i}]"
        name = m["name"]
        label = m.get("label") or name
        if label in labels:
            problems.append(
                f"duplicate label {label!r} ({where}.label): models[{labels[label]}] has it too; "
                "give each row its own label (results are filed by label)"
            )
        labels.setdefault(label, i)
        if name not in known:
            problems.append(
                f"unknown autoencoder {name!r} ({where}.name): use a registered name{nearest(name, list(known))}; "
                f"`m2l2 baselines list` shows them all"
            )
            continue
        problems += _option_problems(known[name], m, where)
    return problems


def _option_problems(spec: Any, model: dict[str, Any], where: str) -> list[str]:
    problems = []
    options = model.get("options") or {}
    allowed = _adapter_parameters(spec)
    for key in options if allowed is not None else ():
        if key not in allowed:
            problems.append(
                f"unknown option {key!r} for {spec.name} ({where}.options.{key}): "
                f"use one of {', '.join(allowed)}{nearest(key, allowed)}"
            )
    checkpoint = options.get("checkpoint")
    if checkpoint and not model.get("when_exists") and not Path(str(checkpoint)).expanduser().exists():
        problems.append(
            f"checkpoint not found: {checkpoint} ({where}.options.checkpoint): fix the path, or add "
            f"`when_exists: {checkpoint}` to skip this row while it is absent"
        )
    return problems


def metric_problems(metrics: list[str] | str, source: str) -> list[str]:
    """Each metric name must be known."""
    names = _metric_names(metrics)
    known = known_metrics()
    return [
        f"unknown metric {m!r} ({source}: metrics[{i}]): use one of {', '.join(known)}{nearest(m, known)}"
        for i, m in enumerate(names)
        if m and m not in known
    ]


def _metric_names(metrics: list[str] | str) -> list[str]:
    return [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics)]


def known_metrics() -> list[str]:
    from benchmarks.embedders import available_embedders
    from benchmarks.metrics import METRICS

    return [*METRICS, *(e for e in available_embedders() if e not in METRICS)]


LABEL_KEYS = {
    "fig3": ("models",),
    "seams": ("models",),
    "speed": ("models",),
    "table1": ("summary", "ordered"),
    "table2": ("compare_to",),
}


def label_problems(data: dict[str, Any], labels: list[str], source: str) -> list[str]:
    """The model labels that experiment sections name must be labels of `models`."""
    problems = []
    for name, keys in LABEL_KEYS.items():
        section = data.get(name)
        for key in keys if isinstance(section, dict) else ():
            value = section.get(key)
            refs = value if isinstance(value, list) else [value]
            for j, ref in enumerate(refs):
                if ref is not None and ref not in labels:
                    at = f"{name}.{key}" + (f"[{j}]" if isinstance(value, list) else "")
                    problems.append(
                        f"no model labelled {ref!r} ({source}: {at}): use a label of `models`"
                        f"{nearest(str(ref), labels)}: {', '.join(labels)}"
                    )
    return problems


def section_problems(data: dict[str, Any], source: str) -> list[str]:
    """Each experiment's section parses into its settings (values and keys the schema above leaves to it)."""
    from benchmarks.config import config_from_dict
    from benchmarks.experiments import EXPERIMENTS

    known = known_metrics()
    metrics = [m for m in _metric_names(data["metrics"]) if m in known]  # unknown ones are reported already
    try:
        cfg = config_from_dict({**data, "metrics": metrics or ["sisdr"]}, source=source)
    except M2L2Error as e:
        return [_in_convention(e, source, source, "fix the configuration")]
    problems = []
    for exp in EXPERIMENTS:
        try:
            exp.parse_settings(cfg)
        except M2L2Error as e:
            problems.append(_in_convention(e, source, f"{source}: {exp.name}", "fix this section"))
    return problems


def _in_convention(e: M2L2Error, source: str, where: str, fix: str) -> str:
    """The error's first line as it is when it already names the configuration file as its place; otherwise
    placed at `where`, with `fix` as what to do."""
    line = str(e).splitlines()[0]
    if f"({source}" in line:
        return line
    return f"{line.replace(f'{source}: ', '')} ({where}): {fix}"
