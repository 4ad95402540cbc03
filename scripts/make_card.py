"""Plot a run's training log and collect the numbers a model card needs.

usage: python scripts/make_card.py RUN_DIR OUT_DIR [--until-step S]
Writes OUT_DIR/curves.png, OUT_DIR/log.jsonl (the run's log up to S) and OUT_DIR/summary.json
(steps, wall time, throughput, last validation and reconstruction numbers, manifest hash).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import yaml

from m2l2.autoencoder import DEFAULT_SIGMA_COND

SUITE_MANIFEST = Path.home() / ".cache/m2l2/suite/manifest.json"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--until-step", type=int, default=None)
    p.add_argument("--eval-json", type=Path, default=None, help="output of evaluate_checkpoint.py")
    p.add_argument("--notes", type=Path, default=None, help="Markdown appended to the card (weaknesses, how-to)")
    p.add_argument("--hardware", default=None,
                   help="where it trained, e.g. 'x86_64, 2 cores, AVX512' (default: this machine, when the card "
                        "is written on the training machine)")
    p.add_argument("--data", default=None, help="what it trained on, in words (default: the config's data paths)")
    p.add_argument("--contention", default="one intra-op thread; the two models trained side by side, one core each",
                   help="how the cores were shared during training")
    args = p.parse_args()
    rows = [json.loads(r) for r in (args.run_dir / "log.jsonl").read_text().splitlines() if r.strip()]
    if args.until_step is not None:
        rows = [r for r in rows if r["step"] <= args.until_step]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r]
    rec = [r for r in rows if "recon_si_sdr" in r]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dyn = [r for r in rec if "recon_dyncorr" in r]
    fig, ax = plt.subplots(1, 4 if dyn else 3, figsize=(20 if dyn else 15, 4))
    ax[0].plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss", alpha=0.6)
    if val:
        ax[0].plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val loss (live)")
        ax[0].plot([r["step"] for r in val], [r["val_loss_ema"] for r in val], "s-", label="val loss (EMA)")
    mag = [r for r in train if "magnitude_loss" in r]
    if mag:
        ax[0].plot([r["step"] for r in mag], [r["magnitude_loss"] for r in mag], label="magnitude-head term (train)", alpha=0.6)
    ax[0].set_yscale("log")
    ax[0].set_title("training loss (consistency + magnitude head)" if mag else "consistency loss")
    ax[1].plot([r["step"] for r in rec], [r["recon_si_sdr"] for r in rec], "o-")
    ax[1].set_title("reconstruction SI-SDR, EMA (dB, probe clips)")
    if dyn:
        ax[3].plot([r["step"] for r in dyn], [r["recon_dyncorr"] for r in dyn], "o-")
        ax[3].set_title("reconstruction dynamics correlation, EMA (probe clips)")
    for key in [k for k in (rec[0] if rec else {}) if k.startswith("recon_lsd_")]:
        lo, hi = key.split("_")[2:]
        ax[2].plot([r["step"] for r in rec], [r[key] for r in rec], "o-", label=f"{lo}-{hi} Hz")
    ax[2].set_title("log-spectral error per band, EMA (dB)")
    for a in ax:
        a.set_xlabel("step")
        a.grid(alpha=0.3)
    ax[0].legend()
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(args.out_dir / "curves.png", dpi=90)

    times = [r["time"] for r in rows]
    sps = [r["steps_per_s"] for r in train[1:]]
    config = json.loads((args.run_dir / "config.json").read_text())
    crop = config["train"].get("crop_samples") or 67_072
    batch = config["train"]["batch_size"]
    summary = {
        "steps": rows[-1]["step"] if rows else 0,
        "wall_hours": sum(min(b - a, 600.0) for a, b in zip(times, times[1:])) / 3600,  # pauses not counted
        "steps_per_s_median": float(np.median(sps)) if sps else None,
        "audio_seconds_per_s_median": float(np.median(sps)) * batch * crop / 44_100 if sps else None,
        "last_val": val[-1] if val else None,
        "best_val_loss_ema": min((r["val_loss_ema"] for r in val), default=None),
        "last_recon": rec[-1] if rec else None,
        "best_recon_si_sdr": max((r["recon_si_sdr"] for r in rec), default=None),
        "manifest_sha256": hashlib.sha256(SUITE_MANIFEST.read_bytes()).hexdigest()
        if SUITE_MANIFEST.is_file()
        else None,
        "hardware": args.hardware or this_machine(),
        "config": config,
    }
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    write_card(args, summary, rows)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))


def this_machine() -> str:
    import torch

    cores = Path("/proc/cpuinfo").read_text().count("processor")
    return f"{platform.processor() or platform.machine()}, {cores} cores, {torch.backends.cpu.get_cpu_capability()}"


def data_words(cfg: dict) -> str:
    """The run's training and probe data as the config names them (folders with mixing weights)."""
    names = lambda key: ", ".join(f"`{d['path']}`" for d in cfg["train"].get(key) or []) or "none"  # noqa: E731
    return f"{names('data')}; reconstruction probe: {names('recon_data')}"


def _table(rows: list[dict], keys: list[str]) -> str:
    head = "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n"
    body = "".join(
        "| " + " | ".join(f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys) + " |\n"
        for r in rows
    )
    return head + body


def write_card(args, summary: dict, rows: list[dict]) -> None:
    cfg = summary["config"]
    name = args.out_dir.name
    val = {r["step"]: r for r in rows if "val_loss" in r}
    rec = {r["step"]: r for r in rows if "recon_si_sdr" in r}
    merged = [{**val.get(s, {}), **rec.get(s, {}), "step": s} for s in sorted(set(val) | set(rec))]
    lsd_keys = [k for k in (next(iter(rec.values())) if rec else {}) if k.startswith("recon_lsd_")]
    ev = json.loads(args.eval_json.read_text()) if args.eval_json else None
    if ev and ev.get("identification") is None:
        sys.exit(f"{args.eval_json} scores {ev.get('clips')} clip(s); a card needs an evaluation of at least 2 "
                 "(identification compares clips): rerun evaluate_checkpoint.py with --clips 24")
    lines = [
        f"# {name}: Music2Latent2 `tiny` ({cfg['model']['latent_kind']} latents), trained on 2 CPU cores",
        "",
        "Weights: the EMA weights of the run, exported with `m2l2.checkpoint.export_inference` "
        f"(`step-{summary['steps']:08d}.safetensors` + `.json` sidecar). Load with "
        f"`m2l2.load('results/checkpoints/{name}')` or `m2l2 reconstruct IN OUT -c results/checkpoints/{name}`.",
        "",
        "## Training",
        "",
        f"- steps: {summary['steps']} (batch {cfg['train']['batch_size']}, "
        f"{cfg['train'].get('crop_samples') or 67072} samples = two 64-frame chunks + 3 hops per item)",
        f"- wall time: {summary['wall_hours']:.2f} h of training (pauses between segments not counted; "
        f"{args.contention})",
        f"- hardware: {summary['hardware']} (no GPU; the last field is torch's CPU capability)",
        f"- throughput in this run: median {summary['steps_per_s_median']:.3f} steps/s = "
        f"{summary['audio_seconds_per_s_median']:.2f} audio-seconds/s, validation and probes excluded",
        f"- data: {args.data or data_words(cfg)}; "
        f"sha256 of the suite manifest on the machine that wrote this card: `{summary['manifest_sha256']}`",
        "",
        "### Configuration (as trained)",
        "",
        "```yaml",
        yaml.safe_dump(cfg, default_flow_style=None, sort_keys=False).strip(),
        "```",
        "",
        "## Validation curves",
        "",
        "![curves](curves.png)",
        "",
        "Training loss (consistency, plus the auxiliary terms the config enables), validation loss on fixed held-out "
        "crops where the run had validation data, and the reconstruction probe: "
        f"{cfg['train'].get('recon_clips', 4)} fixed {cfg['train'].get('recon_seconds', 3.0):g}-s excerpts of the "
        "probe clips, EMA weights, decoded as `m2l2 reconstruct` does (each previous chunk re-decoded at "
        f"σ_cond {DEFAULT_SIGMA_COND:g}): SI-SDR, dynamics correlation where logged, and mean |log-magnitude error| per band. "
        "Full log: `log.jsonl`.",
        "",
        _table(merged, ["step", *(["val_loss", "val_loss_ema"] if val else []), "recon_si_sdr",
                        *(["recon_dyncorr"] if any("recon_dyncorr" in r for r in merged) else []), *lsd_keys]),
    ]
    if ev:
        lines += [
            "## Reconstruction of real eval clips (final EMA weights)",
            "",
            f"`scripts/evaluate_checkpoint.py`: {ev['clips']} `music/eval` clips x {ev['seconds']:g} s, "
            f"mono, decoded as `m2l2 reconstruct` does ({ev.get('steps', 1)} sampling step(s) per chunk, each previous "
            f"chunk re-decoded at sigma_cond {ev.get('sigma_cond', DEFAULT_SIGMA_COND):g}, seed 0).",
            "",
            f"- SI-SDR: mean {ev['si_sdr_mean']:.2f} dB, median {ev['si_sdr_median']:.2f} dB (for scale: the next "
            f"eval clip in place of the reconstruction scores {ev['si_sdr_other_clip_mean']:.2f} dB on average)",
            f"- output level relative to the input (RMS): {ev['level_db_mean']:+.1f} dB",
            "- log-spectral error per band (dB): "
            + ", ".join(f"{int(lo)}-{int(hi)} Hz {v:.1f}" for (lo, hi), v in zip(ev["lsd_bands_hz"], ev["lsd_mean_db"])),
            f"- identification (is the reconstruction closer to its own original than to the other {ev['clips'] - 1} "
            "clips? Pearson correlation of time-aligned log band envelopes with each band's mean removed, i.e. how "
            f"the music evolves in time; chance {1 / ev['clips']:.0%}): top-1 {ev['identification']['top1']:.0%}, "
            f"correlation with its own original {ev['identification']['corr_own_mean']:.3f} against "
            f"{ev['identification']['corr_other_mean']:.3f} with the other clips",
            f"- FAD (MusiCNN, over these {ev['clips']} clips' frames; biased, compare only on the same clips): "
            + (f"{ev['fad_musicnn']:.2f}" if ev.get("fad_musicnn") is not None else ev.get("fad_musicnn_error", "n/a")),
            "",
        ]
        head = ev.get("head_magnitude")
        if head:
            lines += [
                "Diagnostic (`--head-magnitude`, not a decoder): the same outputs with their magnitude spectrogram "
                "replaced by the decoder's auxiliary head, phase kept. It shows what the latents carry, apart from "
                "how well the consistency model turns them into a sample:",
                "",
                f"- SI-SDR {head['si_sdr_mean']:.2f} dB, level {head['level_db_mean']:+.1f} dB, band errors "
                + " / ".join(f"{v:.1f}" for v in head["lsd_mean_db"])
                + f" dB, identification top-1 {head['identification']['top1']:.0%} (own-clip envelope correlation "
                f"{head['identification']['corr_own_mean']:.3f} against {head['identification']['corr_other_mean']:.3f})",
                "",
            ]
    if args.notes and args.notes.is_file():
        lines += [args.notes.read_text()]
    (args.out_dir / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
