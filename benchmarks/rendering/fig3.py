"""Fig. 3 from a result file: FAD against σ_cond as a figure (PNG, PDF) and as a table of numbers.

Figure: one panel per FAD embedder; per model a curve over σ_cond with its bootstrap interval as a band,
parallel decoding (where configured) as a dotted curve, and one-step decoding as a dashed horizontal line
with a dotted band. Curves of random-weights models are
labelled as such in the legend and the title. Table: one row per (model, decoding, σ_cond); bold: the
lowest FAD per model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.metrics import METRICS
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
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Table, TableFile, cell_text
from benchmarks.store import read_result
from m2l2.errors import M2L2Error
from m2l2.io import atomic_path

MODE_ORDER = ("two-step", "parallel", "one-step")  # row order of the table (modes of the Fig. 3 points)
TITLES = {"fad-vggish": "FAD (VGGish)", "fad-clap": "FAD_clap (LAION-CLAP)", "fad-musicnn": "FAD (MusiCNN)"}


def table_file(result: dict[str, Any]) -> TableFile:
    """The σ_cond sweep as numbers: one row per (model, decoding, σ_cond); bold: lowest FAD per model."""
    metrics = metric_columns(result["metrics"])
    notes: list[str] = []
    by_model: dict[str, list[dict[str, Any]]] = {}
    for p in result["points"]:
        by_model.setdefault(p["model"], []).append(p)
    blocks, csv_rows = [], []
    for model, points in by_model.items():
        points = sorted(points, key=lambda p: (MODE_ORDER.index(p["mode"]), p["sigma_cond"]))
        cells = [{m: summary_cell(p["metrics"].get(m), m, notes) for m in metrics} for p in points]
        mark_metric_columns(cells, ["codec"] * len(cells), metrics, underline=False)
        rows = [
            (
                p,
                [cell_text(c[m], METRICS[m].digits, False) for m in metrics],
                [cell_text(c[m], METRICS[m].digits, True) for m in metrics],
            )
            for p, c in zip(points, cells)
        ]
        blocks.append(
            Block(
                random_label(model, any(p.get("random_weights") for p in points)),
                [[p["mode"], f"{p['sigma_cond']:.2f}", *md] for p, md, _ in rows],
                [[p["mode"], f"{p['sigma_cond']:.2f}", *tex] for p, _, tex in rows],
            )
        )
        for p, c in zip(points, cells):
            csv_rows.append(
                [
                    model,
                    p["mode"],
                    p["sigma_cond"],
                    str(bool(p.get("random_weights"))).lower(),
                    *csv_metric_values(c, metrics),
                ]
            )
    level = ci_level_pct(result)
    caption = " ".join(
        [
            "Fig. 3 as numbers: FAD against the conditioning noise sigma_cond of two-step decoding (parallel: "
            "all chunks at once, then each with its left neighbour; not in the paper); one-step "
            "decoding (previous chunk not re-decoded) as reference.",
            *common_caption(result),
            f"[{level}% bootstrap CI over clips]; bold: lowest value per model. The paper gives the curve only as a "
            "figure (lowest FAD at sigma_cond = 0.4 on MusicCaps).",
        ]
    )
    md_heads, tex_heads = metric_heads(metrics)
    foot = footnotes(notes)
    table = Table(
        caption,
        f"tab:fig3-{result['config_name']}",
        ["Decoding", "σ_cond", *md_heads],
        ["Decoding", r"$\sigma_\text{cond}$", *tex_heads],
        blocks,
        [""] + foot if foot else [],
        [tex_escape(line) for line in foot],
    )
    return TableFile(
        f"fig3_{result['config_name']}",
        [table],
        ["model", "decoding", "sigma_cond", "random_weights", *csv_metric_header(metrics)],
        csv_rows,
    )


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise M2L2Error(
            "figures need matplotlib: pip install 'm2l2[bench]' (or pip install matplotlib)"
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


def plot(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
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
        ax.set_xlabel(r"$\sigma_\mathrm{cond}$")
        ax.set_ylabel(TITLES.get(metric, metric) + " ↓")
        ax.set_title(TITLES.get(metric, metric), fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
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
    return table_file(result).write(output_dir / "tables") + plot(result, output_dir / "figures")
