"""Which differences each table tests, built from its result file alone (plus the embedding cache for set
metrics), so that re-rendering shows them without running any model.

Sources, all in the result files and their rows: per-clip metric rows (Table II), per-song FADs (Table II,
Table I and Fig. 3 points), per-clip seam errors. Per-clip values are checked against the result file's
own aggregates first: rows that do not give its numbers are never compared. Set FAD/KAD differences come
from `set_comparisons` (the tables' embedding cache) or say why they are not computed.

What is compared:
* Table I: summary − ordered, per metric column (set FAD) and per-song FAD; one test per metric, raw p.
* Table II: every measured row − a reference row per column (`table2.compare_to`, default the best measured
  row of the column, identity reference excluded); Holm over the rows of each column.
* Fig. 3: every point − the model's one-step point, and − the σ_cond = 0 point of its decoding mode; one
  Holm family per (model, metric, kind, reference).
* Seams: boundary − inside per model and decoding mode; Holm over the rows of the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.metrics import METRICS, PER_CLIP_METRICS
from benchmarks.metrics.paired import Comparison, adjust_family, not_computed, paired_difference
from benchmarks.rendering.set_comparisons import SetComparer
from m2l2.errors import M2L2Error

MATCH_RTOL = 1e-9  # per-clip values must give the stored mean to this relative precision
Values = dict[str, float | None] | list[float | None] | str  # by clip, in clip order, or why there are none


def _close(a: float, b: float, rtol: float = MATCH_RTOL) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1.0)


def _ceiling(result: dict[str, Any]) -> float:
    return float(((result.get("config") or {}).get("eval") or {}).get("sisdr_ceiling_db", 100.0))


def _settings(result: dict[str, Any]) -> tuple[int, int, float]:
    ev = (result.get("config") or {}).get("eval") or {}
    return int(ev.get("n_boot", 1000)), int(ev.get("seed", 0)), float(ev.get("ci_level", 0.95))


def clip_rows(result_file: str | Path | None, pattern: str = "per_clip*.jsonl") -> dict[str, dict[str, Any]]:
    """label → clip → row of a result's per-clip rows (later lines win; evaluation order kept)."""
    by: dict[str, dict[str, Any]] = {}
    if result_file is None:
        return by
    for r in store.read_rows(store.rows_dir(Path(result_file)), pattern):
        by.setdefault(r.get("model"), {})[r.get("clip")] = r
    return by


def metric_values(
    rows: dict[str, Any], metric: str, summary: dict[str, Any] | None, ceiling: float
) -> dict[str, float | None] | str:
    """clip → value of one model's per-clip metric (SI-SDR capped at the ceiling as in its mean), or why
    the rows cannot be used (absent, or not the rows behind the stored mean)."""
    s = summary or {}
    if s.get("status") != "ok" or s.get("value") is None:
        return s.get("reason") or "not computed"
    values: dict[str, float | None] = {}
    for clip, r in rows.items():
        v = store.read_number(r.get(metric))
        values[clip] = None if v is None else min(v, ceiling) if metric == "sisdr" else v
    valid = [v for v in values.values() if v is not None]
    if not valid:
        return "no per-clip rows in the result folder"
    if len(valid) != s.get("n") or not _close(sum(valid) / len(valid), float(s["value"])):
        return "the per-clip rows do not give the stored mean (rows of another run)"
    return values


def per_song(entry: dict[str, Any], metric: str) -> list[float | None] | str:
    """A model's or point's per-song FADs in clip order, or why there are none."""
    values = (entry.get("per_clip_fad") or {}).get(metric)
    if not values:
        return "no per-song FADs in the result file"
    out = [store.read_number(v) for v in values]
    if all(v is None for v in out):
        return "no clip has a per-song FAD (each needs two embedding frames)"
    expected = ((entry.get("metrics") or {}).get(metric) or {}).get("details", {}).get("per_clip_mean")
    valid = [v for v in out if v is not None]
    if expected is not None and valid and not _close(sum(valid) / len(valid), float(expected)):
        return "the per-song FADs do not give the stored mean"
    return out


def paired(
    result: dict[str, Any],
    metric: str,
    kind: str,
    a: Values,
    b: Values,
    labels: tuple[str, str],
) -> Comparison:
    """The paired per-clip comparison of two value sets (dicts keyed by clip, or lists in clip order)."""
    for side in (a, b):
        if isinstance(side, str):
            return not_computed(metric, kind, side, *labels)
    if isinstance(a, dict) and isinstance(b, dict):
        clips = list(dict.fromkeys([*a, *b]))
        xa, xb = [a.get(c) for c in clips], [b.get(c) for c in clips]
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        xa, xb = a, b
    else:
        return not_computed(metric, kind, "the two rows were scored on different clip lists", *labels)
    n_boot, seed, level = _settings(result)
    return paired_difference(xa, xb, metric, kind, labels, n_boot=n_boot, seed=seed, level=level)


# ----------------------------------------------------------------------------------------------- tables


def table1_comparisons(
    result: dict[str, Any], result_file: str | Path | None, compute: bool = True
) -> list[Comparison]:
    """summary − ordered per metric column of Table I (set FAD) and per-song FAD where both have it."""
    roles = {p.get("role"): p for p in result.get("points", [])}
    if "summary" not in roles or "ordered" not in roles:
        return []
    s, o = roles["summary"], roles["ordered"]
    labels = ("summary", "ordered")
    comparer = SetComparer(result, result_file, compute)
    out = []
    for m in [m for m in result.get("metrics", []) if m in METRICS]:
        folders = (comparer.recon_folder(s["model"]), comparer.recon_folder(o["model"]))
        out.append(comparer.compare(m, s, o, folders, labels))
        if (s.get("per_clip_fad") or {}).get(m) or (o.get("per_clip_fad") or {}).get(m):
            out.append(paired(result, m, "per-song", per_song(s, m), per_song(o, m), labels))
    return out


def best_label(rows: list[tuple[str, float | None]], metric: str) -> str | None:
    """The label of the best value (the metric's direction, at the precision shown; first on a tie)."""
    spec = METRICS[metric]
    valid = [(label, round(v, spec.digits)) for label, v in rows if v is not None]
    if not valid:
        return None
    target = (max if spec.higher_is_better else min)(v for _, v in valid)
    return next(label for label, v in valid if v == target)


def _column_value(model: dict[str, Any], metric: str, kind: str) -> float | None:
    """A model's number in a comparison column: its summary value, or its mean per-song FAD."""
    s = (model.get("metrics") or {}).get(metric) or {}
    if s.get("status") != "ok":
        return None
    return s.get("details", {}).get("per_clip_mean") if kind == "per-song" else s.get("value")


def table2_columns(result: dict[str, Any], models: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(metric, kind) of every comparison column: per-clip metrics, set FAD/KAD, and per-song FAD where
    the result has it; only columns with at least two computed rows."""
    columns = []
    for m in [m for m in result.get("metrics", []) if m in METRICS]:
        kinds = ["per-clip"] if m in PER_CLIP_METRICS else ["set"]
        if m not in PER_CLIP_METRICS and any((x.get("per_clip_fad") or {}).get(m) for x in models):
            kinds.append("per-song")
        columns += [(m, k) for k in kinds if sum(_column_value(x, m, k) is not None for x in models) >= 2]
    return columns


def table2_comparisons(
    result: dict[str, Any],
    result_file: str | Path | None,
    compare_to: str | None = None,
    compute: bool = True,
) -> tuple[list[Comparison], dict[tuple[str, str], str]]:
    """(comparisons, (metric, kind) → reference label): every measured row − the column's reference row."""
    models = [m for m in result.get("models", []) if m.get("pretrained", False)]
    by_label = {m["label"]: m for m in models}
    if compare_to is not None and compare_to not in by_label:
        raise M2L2Error(
            f"table2.compare_to: no measured row labelled {compare_to!r} ({result.get('config_file')}): "
            f"use one of {', '.join(repr(k) for k in by_label)} or leave it out (best row per column)"
        )
    rows = clip_rows(result_file)
    comparer = SetComparer(result, result_file, compute)
    ceiling = _ceiling(result)
    out: list[Comparison] = []
    refs: dict[tuple[str, str], str] = {}
    for metric, kind in table2_columns(result, models):
        candidates = [
            (m["label"], _column_value(m, metric, kind)) for m in models if m["kind"] != "reference"
        ]
        ref = compare_to or best_label(candidates, metric)
        if ref is None:
            continue
        refs[(metric, kind)] = ref
        family = []
        for m in models:
            if m["label"] == ref or m["kind"] == "reference":
                continue
            labels = (m["label"], ref)
            if kind == "set":
                folders = (comparer.recon_folder(m["label"]), comparer.recon_folder(ref))
                family.append(comparer.compare(metric, m, by_label[ref], folders, labels))
            elif kind == "per-song":
                family.append(
                    paired(result, metric, kind, per_song(m, metric), per_song(by_label[ref], metric), labels)
                )
            else:
                a, b = (
                    metric_values(rows.get(x["label"], {}), metric, x["metrics"].get(metric), ceiling)
                    for x in (m, by_label[ref])
                )
                family.append(paired(result, metric, kind, a, b, labels))
        adjust_family(family, f"Table II {metric} ({kind}) − {ref}")
        out += family
    return out, refs


def _fig3_reference(points: list[dict[str, Any]], p: dict[str, Any], against: str) -> dict[str, Any] | None:
    if against == "one-step":
        return next((q for q in points if q["mode"] == "one-step"), None)
    if p["mode"] == "one-step":
        return None
    return next((q for q in points if q["mode"] == p["mode"] and q["sigma_cond"] == 0.0), None)


def fig3_comparisons(
    result: dict[str, Any], result_file: str | Path | None, compute: bool = True
) -> list[Comparison]:
    """Every point − its model's one-step point and − the σ_cond = 0 point of its mode (Holm per family)."""
    comparer = SetComparer(result, result_file, compute)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for p in result.get("points", []):
        by_model.setdefault(p["model"], []).append(p)
    out: list[Comparison] = []
    for model, points in by_model.items():
        for metric in [m for m in result.get("metrics", []) if m in METRICS]:
            if not any(((p.get("metrics") or {}).get(metric) or {}).get("status") == "ok" for p in points):
                continue
            kinds = ["set"] + (
                ["per-song"] if any((p.get("per_clip_fad") or {}).get(metric) for p in points) else []
            )
            for kind in kinds:
                for against in ("one-step", "sigma_cond=0"):
                    family = []
                    for p in points:
                        ref = _fig3_reference(points, p, against)
                        if ref is None or ref is p:
                            continue
                        labels = (p["label"], ref["label"])
                        if kind == "set":
                            folders = tuple(
                                comparer.fig3_folder(model, q["mode"], q["sigma_cond"]) for q in (p, ref)
                            )
                            family.append(comparer.compare(metric, p, ref, folders, labels))  # type: ignore[arg-type]
                        else:
                            family.append(
                                paired(
                                    result, metric, kind, per_song(p, metric), per_song(ref, metric), labels
                                )
                            )
                    adjust_family(family, f"Fig. 3 {model}: {metric} ({kind}) − {against}")
                    out += family
    return out


def seams_comparisons(result: dict[str, Any], result_file: str | Path | None) -> list[Comparison]:
    """Boundary − inside per model and decoding mode, from the per-clip rows (Holm over the table's rows)."""
    rows = clip_rows(result_file)
    out: list[Comparison] = []
    for m in result.get("models", []):
        for mode, stats in (m.get("modes") or {}).items():
            labels = (f"{m['label']} | {mode} | boundary", f"{m['label']} | {mode} | inside")
            parts = [r.get(mode) or {} for r in rows.get(m["label"], {}).values()]
            a = [
                p.get("boundary")
                for p in parts
                if p.get("boundary") is not None and p.get("inside") is not None
            ]
            b = [
                p.get("inside")
                for p in parts
                if p.get("boundary") is not None and p.get("inside") is not None
            ]
            stored = (stats.get("difference") or {}).get("value")
            if not a or stored is None:
                out.append(
                    not_computed("lsd", "per-clip", "no per-clip seam rows in the result folder", *labels)
                )
                continue
            if len(a) != stats.get("n_clips") or not _close(sum(a) / len(a) - sum(b) / len(b), stored):
                out.append(
                    not_computed("lsd", "per-clip", "the per-clip rows do not give the stored means", *labels)
                )
                continue
            out.append(paired(result, "lsd", "per-clip", list(a), list(b), labels))
    adjust_family(out, "seams: boundary − inside over the table's rows")
    return out


def table2_compare_to(result: dict[str, Any]) -> str | None:
    """`table2.compare_to` (None: the best row per column). A rendering option, so it is read from the
    configuration file the result names when that file is still there (an edit takes effect with
    `m2l2 tables --render-only`), else from the configuration recorded in the result."""
    section = ((result.get("config") or {}).get("table2")) or {}
    source = result.get("config_file")
    if source and Path(source).expanduser().is_file():  # result files write the home folder as "~"
        from benchmarks.config import read_yaml

        section = read_yaml(Path(source).expanduser()).get("table2") or {}
    where = f"{source or 'configuration'}: table2"
    if not isinstance(section, dict):
        raise M2L2Error(
            f"expected a mapping, got {type(section).__name__} ({where}): write compare_to: LABEL"
        )
    unknown = sorted(set(section) - {"compare_to"})
    if unknown:
        raise M2L2Error(f"unknown keys {unknown} ({where}): the only key is compare_to")
    value = section.get("compare_to")
    return None if value is None else str(value)


def for_result(
    result: dict[str, Any], result_file: str | Path | None, compute_sets: bool = True
) -> list[Comparison]:
    """Every comparison a table of this result shows (none for experiments without comparisons); set
    comparisons not remembered yet are computed only when `compute_sets`."""
    table = result.get("table")
    if table == "table1":
        return table1_comparisons(result, result_file, compute_sets)
    if table == "table2":
        return table2_comparisons(result, result_file, table2_compare_to(result), compute_sets)[0]
    if table == "fig3":
        return fig3_comparisons(result, result_file, compute_sets)
    if table == "seams":
        return seams_comparisons(result, result_file)
    return []
