"""Every result of a configuration as one tidy pandas DataFrame, for users' own analysis.

One row per (experiment, model, clip or point, metric), read from the result files `m2l2 tables` writes
(`<output_dir>/<experiment>/<config>.json`) and their per-clip / per-run rows. `level` says what a row is:
`summary` (a model's or point's number over the evaluation set, with its confidence interval), `clip`
(one clip's number: per-clip metrics and per-song FAD), `run` (one probe training run of Table III) or
`comparison` (a difference the tables test: `model` − `compared_to`, its interval, `p_value` and the
Holm-adjusted `p_adjusted`; `variant` says per-clip, per-song or set; see `rendering.differences`).
Every row carries its file's provenance (date, git commit, package versions, configuration). The
paper-style tables are rendered elsewhere (`benchmarks.rendering`); this only reads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks import store
from m2l2.errors import M2L2Error

COLUMNS = (
    "experiment",
    "config_name",
    "level",
    "model",
    "point",
    "variant",
    "sigma_cond",
    "task",
    "seed",
    "fold",
    "clip",
    "clip_index",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "std",
    "n",
    "status",
    "reason",
    "compared_to",
    "p_value",
    "p_adjusted",
    "created",
    "git_commit",
    "git_dirty",
    "versions",
    "config_file",
    "result_file",
)
EXPERIMENTS = ("table2", "table1", "fig3", "seams", "table3", "speed")
SPEED_METRICS = ("encode_rtf", "decode_rtf", "encode_peak_mib", "decode_peak_mib")
ROW_KEYS = {"clip", "key", "model", "reasons"}  # keys of a per-clip row that are not metrics


def _number(v: Any) -> float:
    """A JSON number as float: None → NaN, the strings 'inf'/'-inf' (store.json_number) → ±inf."""
    return math.nan if v is None else float(v)


def _summary_row(metric: str, s: dict[str, Any]) -> dict[str, Any]:
    """Columns of a metrics.evaluate summary dict (value, ci, n, status)."""
    ci = s.get("ci") or (None, None)
    return {
        "metric": metric,
        "value": _number(s.get("value")),
        "ci_low": _number(ci[0]),
        "ci_high": _number(ci[1]),
        "n": s.get("n"),
        "status": s.get("status", "ok"),
        "reason": s.get("reason"),
    }


def _per_clip_fad(entry: dict[str, Any], clip_ids: list[str] | None) -> list[dict[str, Any]]:
    """Per-song FAD rows of a model or point; clip ids where the order of its clips is known."""
    out = []
    for metric, values in (entry.get("per_clip_fad") or {}).items():
        ids = clip_ids if clip_ids is not None and len(clip_ids) == len(values) else None
        for i, v in enumerate(values):
            out.append(
                {
                    "level": "clip",
                    "metric": metric,
                    "value": _number(v),
                    "clip_index": i,
                    "clip": ids[i] if ids else None,
                    "status": "ok" if v is not None else "not computed",
                }
            )
    return out


def _table2(result: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    labels = {m["label"] for m in result.get("models", [])}
    per_model: dict[str, list[dict[str, Any]]] = {}
    for r in store.read_rows(folder):
        if r.get("model") in labels:
            per_model.setdefault(r["model"], []).append(r)
    rows = []
    for m in result.get("models", []):
        base = {"model": m["label"]}
        rows += [{**base, "level": "summary", **_summary_row(k, s)} for k, s in m.get("metrics", {}).items()]
        clip_rows = per_model.get(m["label"], [])
        for i, r in enumerate(clip_rows):
            for metric in sorted(set(r) - ROW_KEYS):
                reason = (r.get("reasons") or {}).get(metric)
                rows.append(
                    {
                        **base,
                        "level": "clip",
                        "clip": r["clip"],
                        "clip_index": i,
                        "metric": metric,
                        "value": _number(r[metric]),
                        "status": "ok" if r[metric] is not None else "not computed",
                        "reason": reason,
                    }
                )
        # compact_rows writes a model's rows in the evaluation set's order, the order of per_clip_fad
        ids = [r["clip"] for r in clip_rows]
        rows += [{**base, **r} for r in _per_clip_fad(m, ids)]
    return rows


def _points(result: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """Table I and Fig. 3: one entry per point (a model at a setting) with FAD summaries."""
    rows = []
    for p in result.get("points", []):
        base = {
            "model": p.get("model", p["label"]),
            "point": p["label"],
            "variant": p.get("mode", p.get("role")),
            "sigma_cond": _number(p.get("sigma_cond", p.get("options", {}).get("sigma_cond"))),
        }
        rows += [{**base, "level": "summary", **_summary_row(k, s)} for k, s in p.get("metrics", {}).items()]
        rows += [{**base, **r} for r in _per_clip_fad(p, None)]
    return rows


def _seams(result: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    labels = {m["label"] for m in result.get("models", [])}
    rows = []
    for m in result.get("models", []):
        for mode, parts in m.get("modes", {}).items():
            for part in ("boundary", "inside", "difference"):
                if part in parts:
                    rows.append(
                        {
                            "model": m["label"],
                            "variant": mode,
                            "sigma_cond": _number(m.get("sigma_cond")),
                            "level": "summary",
                            **_summary_row(f"lsd-{part}", parts[part]),
                        }
                    )
    index: dict[str, int] = {}
    for r in store.read_rows(folder):
        if r.get("model") not in labels:
            continue
        i = index[r["model"]] = index.get(r["model"], -1) + 1
        for mode in sorted(set(r) - ROW_KEYS):
            for part in ("boundary", "inside"):
                rows.append(
                    {
                        "model": r["model"],
                        "variant": mode,
                        "level": "clip",
                        "clip": r["clip"],
                        "clip_index": i,
                        "metric": f"lsd-{part}",
                        "value": _number(r[mode].get(part)),
                        "n": r[mode].get(f"n_{part}"),
                        "status": "ok",
                    }
                )
    return rows


def _table3(result: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    labels = {m["label"] for m in result.get("models", [])}
    rows = []
    for m in result.get("models", []):
        for task, by_metric in m.get("results", {}).items():
            for metric, s in by_metric.items():
                rows.append(
                    {
                        "model": m["label"],
                        "task": task,
                        "level": "summary",
                        "metric": metric,
                        "value": _number(s.get("mean")),
                        "std": _number(s.get("std")),
                        "n": s.get("n"),
                        "status": "ok",
                    }
                )
    for r in store.read_rows(folder, "runs*.jsonl"):
        if r.get("model") not in labels:
            continue
        for metric, v in sorted((r.get("scores") or {}).items()):
            rows.append(
                {
                    "model": r["model"],
                    "task": r.get("task"),
                    "seed": r.get("seed"),
                    "fold": r.get("fold"),
                    "level": "run",
                    "metric": metric,
                    "value": _number(v),
                    "n": r.get("n_test"),
                    "status": "ok",
                }
            )
    return rows


def _speed(result: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    return [
        {"model": r["label"], "level": "summary", "metric": k, "value": _number(r.get(k)), "status": "ok"}
        for r in result.get("rows", [])
        for k in SPEED_METRICS
        if k in r
    ]


READERS = {
    "table2": _table2,
    "table1": _points,
    "fig3": _points,
    "seams": _seams,
    "table3": _table3,
    "speed": _speed,
}


def _provenance(result: dict[str, Any], path: Path) -> dict[str, Any]:
    prov = result.get("provenance", {})
    git = prov.get("git") or {}
    return {
        "experiment": result.get("table", path.parent.name),
        "config_name": result.get("config_name", path.stem),
        "created": prov.get("created"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "versions": json.dumps(prov.get("versions", {}), sort_keys=True),  # json.loads gives the dict back
        "config_file": result.get("config_file"),
        "result_file": str(path),
    }


def result_rows(path: str | Path) -> list[dict[str, Any]]:
    """The tidy rows (dicts with every column of COLUMNS) of one result file and its row files."""
    path = Path(path)
    result = store.read_result(path)
    experiment = result.get("table", path.parent.name)
    if experiment not in READERS:
        raise M2L2Error(
            f"unknown experiment {experiment!r} ({path}): give a result file of one of {', '.join(READERS)}"
        )
    head = _provenance(result, path)
    empty = dict.fromkeys(COLUMNS)
    rows = READERS[experiment](result, store.rows_dir(path)) + _comparisons(result, path)
    return [{**empty, **head, **r} for r in rows]


def _comparisons(result: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """The differences the rendered tables test (set FAD/KAD ones only once a render computed them)."""
    from benchmarks.rendering.differences import for_result

    return [
        {
            "level": "comparison",
            "model": c.a,
            "compared_to": c.b,
            "variant": c.kind,
            "metric": c.metric,
            "value": _number(c.difference),
            "ci_low": _number(c.ci[0] if c.ci else None),
            "ci_high": _number(c.ci[1] if c.ci else None),
            "n": c.n_clips,
            "p_value": _number(c.p_value),
            "p_adjusted": _number(c.p_adjusted),
            "status": c.status,
            "reason": c.reason,
        }
        for c in for_result(result, path, compute_sets=False)
    ]


def load_dir(output_dir: str | Path, config_name: str, experiments: tuple[str, ...] = EXPERIMENTS) -> Any:
    """The tidy DataFrame of every result file of `config_name` under `output_dir` (absent ones skipped)."""
    import pandas as pd

    files = [store.result_path(output_dir, e, config_name) for e in experiments]
    found = [f for f in files if f.is_file()]
    if not found:
        raise M2L2Error(f"no result files of {config_name!r} ({output_dir}): run `m2l2 tables` first")
    rows = [r for f in found for r in result_rows(f)]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("seed", "fold", "clip_index", "n"):
        df[col] = df[col].astype("Int64")  # integers with missing values, not floats
    return df


def load(config: Any = None, experiments: tuple[str, ...] = EXPERIMENTS) -> Any:
    """The tidy DataFrame of every result of a configuration (a TablesConfig, a YAML path or a shipped name;
    default: 'default'), read from its `output_dir`."""
    from benchmarks.config import TablesConfig, load_config

    cfg = config if isinstance(config, TablesConfig) else load_config(config)
    return load_dir(cfg.output_dir, cfg.name, experiments)


def export(df: Any, out: str | Path, fmt: str) -> Path:
    """Write the DataFrame as CSV or Parquet (Parquet needs pyarrow), atomically; a file that already holds
    the same bytes is left alone, so an export of unchanged results rewrites nothing."""
    import io

    from m2l2.io import write_bytes

    out = Path(out)
    if fmt == "csv":
        data = df.to_csv(index=False).encode()
    elif fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise M2L2Error(
                f"parquet export needs pyarrow, which is not installed ({out}): pip install pyarrow, or use "
                "--format csv"
            ) from None
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        raise M2L2Error(f"unknown format {fmt!r} (--format): use csv or parquet")
    if not (out.is_file() and out.read_bytes() == data):
        write_bytes(out, data)
    return out
