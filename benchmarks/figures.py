"""Figures from result files (matplotlib, Agg backend): Fig. 3, FAD against σ_cond, as PNG and PDF.

One panel per FAD embedder; per model a curve over σ_cond with its bootstrap interval as a band, and
one-step decoding as a dashed horizontal line with a dotted band. Curves of random-weights models are
labelled as such in the legend and the title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from m2l2.errors import M2L2Error

TITLES = {"fad-vggish": "FAD (VGGish)", "fad-clap": "FAD_clap (LAION-CLAP)", "fad-musicnn": "FAD (MusiCNN)"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise M2L2Error("figures need matplotlib: pip install 'm2l2[bench]' (or pip install matplotlib)") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig3_series(result: dict[str, Any], metric: str) -> dict[str, dict[str, Any]]:
    """Per model: two-step σ values, FADs, CI bounds, and the one-step point (None when absent/not computed)."""
    out: dict[str, dict[str, Any]] = {}
    for p in result["points"]:
        s = p["metrics"].get(metric) or {}
        if s.get("status") != "ok" or s.get("value") is None:
            continue
        ci = s.get("ci") or [s["value"], s["value"]]
        d = out.setdefault(p["model"], {"sigma": [], "value": [], "low": [], "high": [], "one_step": None,
                                        "random_weights": bool(p.get("random_weights"))})
        if p["mode"] == "one-step":
            d["one_step"] = {"sigma": p["sigma_cond"], "value": s["value"], "low": ci[0], "high": ci[1]}
        else:
            d["sigma"].append(p["sigma_cond"])
            d["value"].append(s["value"])
            d["low"].append(ci[0])
            d["high"].append(ci[1])
    for d in out.values():
        order = sorted(range(len(d["sigma"])), key=d["sigma"].__getitem__)
        for k in ("sigma", "value", "low", "high"):
            d[k] = [d[k][i] for i in order]
    return out


def plot_fig3(result_file: str | Path, out_dir: str | Path) -> list[Path]:
    """Write fig3_<config>.png and .pdf into `out_dir`; returns the paths (none when no FAD was computed)."""
    import json

    plt = _pyplot()
    result = json.loads(Path(result_file).read_text(encoding="utf-8"))
    metrics = [m for m in result["metrics"] if fig3_series(result, m)]
    if not metrics:
        return []
    level = int(round(100 * result["config"]["eval"]["ci_level"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(6.0, 4.6 * len(metrics)), 4.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for i, (model, d) in enumerate(fig3_series(result, metric).items()):
            c = colors[i % len(colors)]
            name = f"{model} (random weights, test only)" if d["random_weights"] else model
            if d["sigma"]:
                ax.plot(d["sigma"], d["value"], "o-", color=c, ms=3.5, label=f"{name}: two-step")
                ax.fill_between(d["sigma"], d["low"], d["high"], color=c, alpha=0.18, lw=0)
            one = d["one_step"]
            if one is not None:
                ax.axhline(one["value"], color=c, ls="--", lw=1.2,
                           label=f"{name}: one-step (sigma_cond={one['sigma']:g})")
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".pdf"):
        path = out_dir / f"fig3_{result['config_name']}{suffix}"
        tmp = path.with_name(f".{path.stem}.part{suffix}")
        meta = {"CreationDate": None} if suffix == ".pdf" else {"Software": None}
        fig.savefig(tmp, dpi=150, metadata=meta)
        tmp.replace(path)
        paths.append(path)
    plt.close(fig)
    return paths
