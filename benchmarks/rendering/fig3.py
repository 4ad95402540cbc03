"""Fig. 3 from a result file: FAD against σ_cond as a figure (PNG, PDF) and as a table of numbers.

Figure: one panel per FAD embedder; per model a curve over σ_cond with its bootstrap interval as a band,
parallel decoding (where configured) as a dotted curve, and one-step decoding as a dashed horizontal line
with a dotted band. Curves of random-weights models are
labelled as such in the legend and the title. Points that differ from the model's one-step line (ring) or
from σ_cond = 0 of their decoding mode (cross) after Holm correction are marked (`rendering.differences`).
Table: one row per (model, decoding, σ_cond); bold: the lowest FAD per model; `tables/differences/fig3_<config>`
gives each point's difference to those two references with interval and Holm-adjusted p.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.metrics import METRICS
from benchmarks.metrics.paired import Comparison
from benchmarks.rendering.common import (
    ci_level_pct,
    common_caption,
    csv_metric_header,
    csv_metric_values,
    footnotes,
    mark_metric_columns,
    metric_columns,
    metric_heads,
    random_label,
    summary_cell,
)
from benchmarks.rendering.comparisons import (
    DIFFERENCES_DIR,
    comparison_text,
    dash,
    differences_file,
    mark_sentence,
    notes_lines,
    reference_frames,
    size_fields,
    size_sentence,
    size_suffix,
    tex,
    write_differences,
)
from benchmarks.rendering.differences import fig3_comparisons
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text
from benchmarks.store import read_result
from m2l2.errors import M2L2Error
from m2l2.io import atomic_path

MODE_ORDER = ("two-step", "parallel", "one-step")  # row order of the table (modes of the Fig. 3 points)
TITLES = {"fad-vggish": "FAD (VGGish)", "fad-clap": "FAD_clap (LAION-CLAP)", "fad-musicnn": "FAD (MusiCNN)"}


def _shown_row(p: dict[str, Any], cells: dict[str, Cell], metrics: list[str], latex: bool) -> list[str]:
    """A point's row: decoding mode, σ_cond, each FAD with its interval and set sizes."""
    return [
        p["mode"],
        f"{p['sigma_cond']:.2f}",
        *[
            cell_text(cells[m], METRICS[m].digits, latex) + size_suffix(p["metrics"].get(m), latex)
            for m in metrics
        ],
    ]


def _csv_row(model: str, p: dict[str, Any], cells: dict[str, Cell], metrics: list[str]) -> list[Any]:
    """A point's CSV row: each FAD's value, interval and set sizes at full precision."""
    return [
        model,
        p["mode"],
        p["sigma_cond"],
        str(bool(p.get("random_weights"))).lower(),
        *csv_metric_values(cells, metrics),
        *[x for m in metrics for x in size_fields(p["metrics"].get(m))],
    ]


def _model_rows(
    model: str, points: list[dict[str, Any]], metrics: list[str], notes: list[str]
) -> tuple[Block, list[list[Any]]]:
    """One model's block (its points in table order, lowest FAD per column bold) and CSV rows; cells that
    are not computed add their reason to `notes`."""
    points = sorted(points, key=lambda p: (MODE_ORDER.index(p["mode"]), p["sigma_cond"]))
    cells = [{m: summary_cell(p["metrics"].get(m), m, notes) for m in metrics} for p in points]
    mark_metric_columns(cells, ["codec"] * len(cells), metrics, underline=False)
    block = Block(
        random_label(model, any(p.get("random_weights") for p in points)),
        [_shown_row(p, c, metrics, False) for p, c in zip(points, cells)],
        [_shown_row(p, c, metrics, True) for p, c in zip(points, cells)],
    )
    return block, [_csv_row(model, p, c, metrics) for p, c in zip(points, cells)]


def _table_caption(result: dict[str, Any]) -> str:
    """What the table shows, on what data, and how it relates to the paper's figure."""
    return " ".join(
        [
            "Fig. 3 as numbers: FAD against the conditioning noise sigma_cond of two-step decoding (parallel: "
            "all chunks at once, then each with its left neighbour; not in the paper); one-step "
            "decoding (previous chunk not re-decoded) as reference.",
            *common_caption(result),
            f"[{ci_level_pct(result)}% bootstrap CI over clips]; bold: lowest value per model. The paper gives the "
            "curve only as a figure (lowest FAD at sigma_cond = 0.4 on MusicCaps).",
            *_size_sentences(result),
        ]
    )


def table_file(result: dict[str, Any]) -> TableFile:
    """The σ_cond sweep as numbers: one row per (model, decoding, σ_cond); bold: lowest FAD per model."""
    metrics = metric_columns(result["metrics"])
    notes: list[str] = []
    by_model: dict[str, list[dict[str, Any]]] = {}
    for p in result["points"]:
        by_model.setdefault(p["model"], []).append(p)
    blocks, csv_rows = [], []
    for model, points in by_model.items():
        block, rows = _model_rows(model, points, metrics, notes)
        blocks.append(block)
        csv_rows += rows
    md_heads, tex_heads = metric_heads(metrics)
    foot = footnotes(notes)
    table = Table(
        _table_caption(result),
        f"tab:fig3-{result['config_name']}",
        ["Decoding", "σ_cond", *md_heads],
        ["Decoding", r"$\sigma_\text{cond}$", *tex_heads],
        blocks,
        [""] + foot if foot else [],
        [tex_escape(line) for line in foot],
    )
    sizes_header = [f"{m}_{x}" for m in metrics for x in ("clips", "frames")]
    return TableFile(
        f"fig3_{result['config_name']}",
        [table],
        ["model", "decoding", "sigma_cond", "random_weights", *csv_metric_header(metrics), *sizes_header],
        csv_rows,
    )


def _size_sentences(result: dict[str, Any]) -> list[str]:
    frames = reference_frames([s for p in result["points"] for s in p["metrics"].values()])
    return [size_sentence(result["metrics"]) + f" Reference set: {frames} frames."] if frames else []


AGAINST = ("one-step", "sigma_cond=0")


def _against(result: dict[str, Any], c: Comparison) -> str:
    """Which reference a Fig. 3 comparison is against: the one-step point or a σ_cond = 0 point."""
    ref = next((p for p in result["points"] if p["label"] == c.b), None)
    return "one-step" if ref is not None and ref["mode"] == "one-step" else "sigma_cond=0"


def difference_table(result: dict[str, Any], comparisons: list[Comparison]) -> Table:
    """Per point: difference to the one-step point and to σ_cond = 0 of its mode, per metric and kind."""
    notes: list[str] = []
    by = {(c.a, c.metric, c.kind, _against(result, c)): c for c in comparisons}
    columns = list(dict.fromkeys((c.metric, c.kind, _against(result, c)) for c in comparisons))
    refs = {(c.metric, c.kind, _against(result, c), c.b) for c in comparisons}
    blocks = []
    for model in dict.fromkeys(p["model"] for p in result["points"]):
        points = [p for p in result["points"] if p["model"] == model]
        points.sort(key=lambda p: (MODE_ORDER.index(p["mode"]), p["sigma_cond"]))
        rows: dict[bool, list[list[str]]] = {False: [], True: []}
        for p in points:
            for latex in (False, True):
                cells = []
                for metric, kind, against in columns:
                    c = by.get((p["label"], metric, kind, against))
                    if (metric, kind, against, p["label"]) in refs:
                        cells.append("ref.")
                    else:
                        cells.append(
                            comparison_text(c, METRICS[metric].digits, latex, notes) if c else dash(latex)
                        )
                rows[latex].append([p["mode"], f"{p['sigma_cond']:.2f}", *cells])
        blocks.append(
            Block(random_label(model, any(p.get("random_weights") for p in points)), rows[False], rows[True])
        )
    caption = (
        f"Fig. 3, differences between points (config '{result['config_name']}'): each cell is the point − "
        f"the reference [{ci_level_pct(result)}% interval] and p; references ('ref.'): the model's one-step point, "
        "and sigma_cond = 0 of the point's own decoding mode. Holm correction within each family (one model, "
        "metric, kind and reference). {marks} Per-song FAD: the mean of each clip's FAD against the whole "
        "reference set, compared clip by clip. The figure marks points with Holm-adjusted p < 0.05 (ring: "
        "differs from one-step; cross: differs from sigma_cond = 0), from the set FAD where it was computed "
        "and its resamples can give p < 0.05 after Holm, else from the per-song FAD."
    )
    heads = [
        f"{METRICS[m].title} ({k}) − {'one-step' if a == 'one-step' else 'σ_cond=0'}" for m, k, a in columns
    ]
    foot = notes_lines(notes)
    return Table(
        caption.replace("{marks}", mark_sentence(markdown=True)),
        f"tab:fig3-diff-{result['config_name']}",
        ["Decoding", "σ_cond", *heads],
        ["Decoding", r"$\sigma_\text{cond}$", *[tex(h) for h in heads]],
        blocks,
        [""] + foot if foot else [],
        notes_lines(notes, latex=True),
        wide=True,
        tex_caption=caption.replace("{marks}", mark_sentence(markdown=False)),
    )


def significant(
    result: dict[str, Any], comparisons: list[Comparison], model: str, metric: str, alpha: float = 0.05
) -> tuple[str | None, dict[str, set[str]]]:
    """(kind used, reference → labels of the model's points that differ from it at Holm-adjusted p < alpha):
    the set FAD where its comparisons were computed and can reach p < alpha, else the per-song FAD, else
    (None, {}). A set comparison's p cannot fall below 2/(B+1) times Holm's factor (200 resamples over 17
    points: 0.17), so with too few resamples it could mark nothing, whatever the differences."""
    labels = {p["label"] for p in result["points"] if p["model"] == model}
    mine = [c for c in comparisons if c.metric == metric and c.a in labels and c.ok]
    floors = [c.p for c in mine if c.kind == "set" and c.sign_flip_share == 0.0 and c.p is not None]
    usable = ("set", "per-song") if not floors or min(floors) < alpha else ("per-song",)
    kind = next((k for k in usable if any(c.kind == k for c in mine)), None)
    out: dict[str, set[str]] = {a: set() for a in AGAINST}
    for c in mine:
        if c.kind == kind and c.p is not None and c.p < alpha:
            out[_against(result, c)].add(c.a)
    return kind, out


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise M2L2Error(
            "figures need matplotlib, which is not installed (matplotlib): pip install 'm2l2[bench]' (or "
            "pip install matplotlib)"
        ) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig3_series(result: dict[str, Any], metric: str) -> dict[str, dict[str, Any]]:
    """Per model: two-step σ values, FADs, CI bounds, the same for parallel decoding under "parallel", and the
    one-step point (None when absent/not computed)."""
    out: dict[str, dict[str, Any]] = {}
    for p in result["points"]:
        s = p["metrics"].get(metric) or {}
        if s.get("status") != "ok" or s.get("value") is None:
            continue
        ci = s.get("ci") or [s["value"], s["value"]]
        d = out.setdefault(
            p["model"],
            {
                "sigma": [],
                "value": [],
                "low": [],
                "high": [],
                "one_step": None,
                "parallel": {"sigma": [], "value": [], "low": [], "high": []},
                "random_weights": bool(p.get("random_weights")),
            },
        )
        if p["mode"] == "one-step":
            d["one_step"] = {"sigma": p["sigma_cond"], "value": s["value"], "low": ci[0], "high": ci[1]}
            continue
        curve = d["parallel"] if p["mode"] == "parallel" else d
        curve["sigma"].append(p["sigma_cond"])
        curve["value"].append(s["value"])
        curve["low"].append(ci[0])
        curve["high"].append(ci[1])
    for d in out.values():
        for curve in (d, d["parallel"]):
            order = sorted(range(len(curve["sigma"])), key=curve["sigma"].__getitem__)
            for k in ("sigma", "value", "low", "high"):
                curve[k] = [curve[k][i] for i in order]
    return out


def _mark_points(
    ax: Any, result: dict[str, Any], comparisons: list[Comparison], model: str, metric: str, c: str
) -> None:
    """Ring the points that differ from one-step, cross those that differ from σ_cond = 0 (Holm p < 0.05)."""
    kind, differ = significant(result, comparisons, model, metric)
    if kind is None:
        return
    values = {
        p["label"]: (p["sigma_cond"], (p["metrics"].get(metric) or {}).get("value")) for p in result["points"]
    }
    for against, style in (
        ("one-step", {"marker": "o", "s": 70, "facecolors": "none"}),
        ("sigma_cond=0", {"marker": "x", "s": 30}),
    ):
        xy = [values[label] for label in sorted(differ[against]) if values[label][1] is not None]
        if xy:
            ax.scatter(*zip(*xy), color=c, linewidths=1.0, zorder=3, **style)
    ax.scatter(
        [],
        [],
        marker="o",
        s=70,
        facecolors="none",
        color="0.3",
        label=f"differs from one-step (Holm p<0.05, {kind} FAD)",
    )
    ax.scatter(
        [], [], marker="x", s=30, color="0.3", label=f"differs from sigma_cond=0 (Holm p<0.05, {kind} FAD)"
    )


def plot(
    result: dict[str, Any], out_dir: str | Path, comparisons: list[Comparison] | None = None
) -> list[Path]:
    """Write fig3_<config>.png and .pdf into `out_dir`; returns the paths (none when no FAD was computed)."""
    plt = _pyplot()
    metrics = [m for m in result["metrics"] if fig3_series(result, m)]
    if not metrics:
        return []
    level = ci_level_pct(result)
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(6.0, 4.6 * len(metrics)), 4.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for i, (model, d) in enumerate(fig3_series(result, metric).items()):
            c = colors[i % len(colors)]
            name = f"{model} (random weights, test only)" if d["random_weights"] else model
            if d["sigma"]:
                ax.plot(d["sigma"], d["value"], "o-", color=c, ms=3.5, label=f"{name}: two-step")
                ax.fill_between(d["sigma"], d["low"], d["high"], color=c, alpha=0.18, lw=0)
            par = d["parallel"]
            if par["sigma"]:
                ax.plot(par["sigma"], par["value"], "s:", color=c, ms=3.5, label=f"{name}: parallel two-step")
            one = d["one_step"]
            if one is not None:
                ax.axhline(
                    one["value"],
                    color=c,
                    ls="--",
                    lw=1.2,
                    label=f"{name}: one-step (sigma_cond={one['sigma']:g})",
                )
                ax.axhspan(one["low"], one["high"], color=c, alpha=0.07, lw=0)
            _mark_points(ax, result, comparisons or [], model, metric, c)
        ax.set_xlabel(r"$\sigma_\mathrm{cond}$")
        ax.set_ylabel(TITLES.get(metric, metric) + " ↓")
        ax.set_title(TITLES.get(metric, metric), fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # the mark explanations are added once per model
    labels, handles = list(unique), list(unique.values())
    below = 0.035 * len(labels) + 0.03  # the legend goes under the panels, where it hides no curve
    fig.legend(handles, labels, loc="lower center", fontsize=7, frameon=False)
    ds = result["dataset"]
    title = f"Fig. 3: FAD vs sigma_cond — {ds['name']}, {ds['clips']} clips, {level}% bootstrap CI"
    if result.get("random_weights"):
        title += "\nRANDOM WEIGHTS (test only): not a result"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, min(0.5, below), 1, 1))
    paths = []
    for suffix in (".png", ".pdf"):
        path = Path(out_dir) / f"fig3_{result['config_name']}{suffix}"
        meta = {"CreationDate": None} if suffix == ".pdf" else {"Software": None}
        with atomic_path(path, keep_suffix=True) as tmp:
            fig.savefig(tmp, dpi=150, metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths


def render(result_file: str | Path, output_dir: str | Path) -> list[Path]:
    """Write `<output_dir>/tables/fig3_<config>.{md,tex,csv}` and `<output_dir>/figures/fig3_<config>.{png,pdf}`."""
    result = read_result(result_file)
    output_dir = Path(output_dir)
    comparisons = fig3_comparisons(result, result_file)
    tables = [difference_table(result, comparisons)] if comparisons else []
    differences = differences_file(f"fig3_{result['config_name']}", "fig3", tables, comparisons)
    return (
        table_file(result).write(output_dir / "tables")
        + write_differences(output_dir / "tables" / DIFFERENCES_DIR, differences)
        + plot(result, output_dir / "figures", comparisons)
    )
