"""Held-out probe curves of training runs (raw and EMA weights) from their log.jsonl, in one PNG.

    python tools/plot_probe_curves.py OUT.png RUN_DIR [RUN_DIR ...] [--reference R1 R2 ...] [--markdown]

Panels: one-step dynamics correlation (dotted: the same decoding from another clip's latents, where the log has
it: the floor of latents that steer nothing), its output/input RMS ratio, two-step dynamics correlation, and
the own- vs other-latent denoising error at σ = 80 (alike for any output of random phase: see
docs/training-investigation.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PANELS = [
    ("recon_one_step_dyncorr", "one-step dynamics correlation (dotted: other latents, raw)"),
    ("recon_one_step_rms_ratio", "one-step output / input RMS"),
    ("recon_dyncorr", "two-step dynamics correlation (σ_cond 0.4)"),
    ("recon_err_own_sigma_80", "denoising error at σ = 80 (solid own, dotted other latents)"),
]


def probe_rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "recon_one_step_dyncorr" in r]


def markdown_table(runs: list[Path]) -> str:
    """One row per run and probe step: one-step dyncorr and RMS ratio, two-step dyncorr, own/other error at
    σ = 80, for the EMA and the raw weights."""
    lines = ["| run | step | weights | one-step dyncorr | other clip's latents | one-step RMS ratio | two-step dyncorr "
             "| err σ=80 own / other |", "|---|---:|---|---:|---:|---:|---:|---|"]
    for run in runs:
        for r in probe_rows(run):
            for prefix, weights in (("recon_", "EMA"), ("recon_raw_", "raw")):
                v = {k: r.get(k.replace("recon_", prefix, 1), float("nan")) for k in (
                    "recon_one_step_dyncorr", "recon_one_step_dyncorr_other", "recon_one_step_rms_ratio",
                    "recon_dyncorr", "recon_err_own_sigma_80", "recon_err_other_sigma_80")}
                other = "–" if v["recon_one_step_dyncorr_other"] != v["recon_one_step_dyncorr_other"] else (
                    f"{v['recon_one_step_dyncorr_other']:.3f}")
                lines.append(f"| {run.name} | {r['step']} | {weights} | {v['recon_one_step_dyncorr']:.3f} | {other} | "
                             f"{v['recon_one_step_rms_ratio']:.3f} | {v['recon_dyncorr']:.3f} | "
                             f"{v['recon_err_own_sigma_80']:.3f} / {v['recon_err_other_sigma_80']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--reference", type=float, nargs="*", default=[],
                   help="per run, a dashed line on the first panel (e.g. the starting checkpoint's value)")
    p.add_argument("--markdown", action="store_true", help="also print the probe rows as a Markdown table")
    args = p.parse_args()
    if args.markdown:
        print(markdown_table(args.runs))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4), constrained_layout=True)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for run, colour in zip(args.runs, colours):
        rows = probe_rows(run)
        steps = [r["step"] for r in rows]
        for ax, (key, title) in zip(axes, PANELS):
            for prefix, style, weights in (("recon_", "-", "EMA"), ("recon_raw_", "--", "raw")):
                name = key.replace("recon_", prefix, 1)
                ax.plot(steps, [r[name] for r in rows], style, color=colour, label=f"{run.name} ({weights})")
            floor = "recon_raw_one_step_dyncorr_other"
            if key == "recon_one_step_dyncorr" and all(floor in r for r in rows):
                ax.plot(steps, [r[floor] for r in rows], ":", color=colour)
            if key.endswith("sigma_80"):
                other = key.replace("own", "other").replace("recon_", "recon_raw_", 1)
                ax.plot(steps, [r[other] for r in rows], ":", color=colour)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("training step")
    for value, colour in zip(args.reference, colours):
        axes[0].axhline(value, color=colour, ls=(0, (1, 3)), lw=1.0)
    axes[0].legend(fontsize=7)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
