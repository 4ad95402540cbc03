"""Plot the dev-split reconstruction probe of gate-3 runs (results/checkpoints/GATES.md).

    python scripts/plot_gate3.py OUT.png LABEL=RUN_DIR [LABEL=RUN_DIR ...] [--ref LABEL=DYNCORR ...]

Reads each run's log.jsonl (`recon_dyncorr`, `recon_si_sdr`: EMA weights, dev clips never trained on) and
draws both against the training step; `--ref` adds horizontal lines (e.g. the gate, an unrelated clip).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def probe_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "recon_dyncorr" in r]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    p.add_argument("--ref", nargs="*", default=[], metavar="LABEL=DYNCORR")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_dyn, ax_sdr) = plt.subplots(1, 2, figsize=(10, 3.6))
    for item in args.runs:
        label, run = item.split("=", 1)
        rows = probe_rows(Path(run))
        steps = [r["step"] for r in rows]
        ax_dyn.plot(steps, [r["recon_dyncorr"] for r in rows], marker="o", label=label)
        ax_sdr.plot(steps, [r["recon_si_sdr"] for r in rows], marker="o", label=label)
    for item in args.ref:
        label, value = item.split("=", 1)
        ax_dyn.axhline(float(value), ls="--", lw=1, color="grey")
        ax_dyn.annotate(label, (0.01, float(value)), xycoords=("axes fraction", "data"), fontsize=7,
                        va="bottom", color="grey")
    ax_dyn.set(xlabel="step", ylabel="dynamics correlation", title="dev clips (never trained on)")
    ax_sdr.set(xlabel="step", ylabel="SI-SDR (dB)", title="dev clips, two-step decoding")
    for ax in (ax_dyn, ax_sdr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
