"""Write a model card for a training run: curves, the numbers a card needs, and the card itself.

usage: python scripts/make_card.py RUN_DIR OUT_DIR [--until-step S] [--eval-json EV.json] [--notes NOTES.md]
Writes OUT_DIR/curves.png, OUT_DIR/log.jsonl (the run's log up to S), OUT_DIR/summary.json (steps, wall time,
throughput, last validation and reconstruction numbers, manifest hash) and OUT_DIR/MODEL_CARD.md.

The card has the usual model-card sections (HEADINGS). What the run's files say is generated; what only a
person knows (intended use, limitations, the command to continue) comes from --notes: a Markdown file whose
`## <heading>` sections are added under the card's section of that name. A card this script wrote keeps its
hand-written parts between `<!-- notes: ... -->` markers, so `--notes OLD_CARD/MODEL_CARD.md` refreshes the
generated numbers and keeps the text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import sys
from pathlib import Path

import numpy as np
import yaml

from m2l2.autoencoder import DEFAULT_SIGMA_COND

SUITE_MANIFEST = Path.home() / ".cache/m2l2/suite/manifest.json"
HEADINGS = ("Model details", "Intended use", "Training data", "Training procedure", "Evaluation", "Limitations",
            "How to continue training")
MARKED = re.compile(r"<!-- notes: (.+?) -->\n(.*?)\n?<!-- end notes -->", re.S)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--until-step", type=int, default=None)
    p.add_argument("--eval-json", type=Path, default=None, help="output of evaluate_checkpoint.py")
    p.add_argument("--notes", type=Path, default=None,
                   help="Markdown with '## <heading>' sections (or an earlier MODEL_CARD.md) for the hand-written parts")
    p.add_argument("--hardware", default=None,
                   help="where it trained, e.g. 'x86_64, 2 cores, AVX512' (default: this machine, when the card "
                        "is written on the training machine)")
    p.add_argument("--data", default=None, help="what it trained on, in words (default: the config's data paths)")
    p.add_argument("--manifest-sha256", default=None,
                   help="sha256 of the suite manifest where the run trained (default: this machine's, if any)")
    p.add_argument("--contention", default="one intra-op thread; the two models trained side by side, one core each",
                   help="how the cores were shared during training")
    args = p.parse_args()
    rows = [json.loads(r) for r in (args.run_dir / "log.jsonl").read_text().splitlines() if r.strip()]
    if args.until_step is not None:
        rows = [r for r in rows if r["step"] <= args.until_step]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot_curves(rows, args.out_dir / "curves.png")
    config = json.loads((args.run_dir / "config.json").read_text())
    summary = summarise(rows, config, args)
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    write_card(args, summary, rows)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))


def plot_curves(rows: list[dict], path: Path) -> None:
    """Training loss, the reconstruction probe's SI-SDR, band errors and dynamics correlation against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r]
    rec = [r for r in rows if "recon_si_sdr" in r]
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
    fig.savefig(path, dpi=90)


def summarise(rows: list[dict], config: dict, args) -> dict:
    """The run's numbers that the card quotes (also written as summary.json)."""
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r]
    rec = [r for r in rows if "recon_si_sdr" in r]
    times = [r["time"] for r in rows]
    sps = [r["steps_per_s"] for r in train[1:]]
    crop = config["train"].get("crop_samples") or 67_072
    batch = config["train"]["batch_size"]
    manifest = args.manifest_sha256 or (
        hashlib.sha256(SUITE_MANIFEST.read_bytes()).hexdigest() if SUITE_MANIFEST.is_file() else None)
    return {
        "steps": rows[-1]["step"] if rows else 0,
        "wall_hours": sum(min(b - a, 600.0) for a, b in zip(times, times[1:])) / 3600,  # pauses not counted
        "steps_per_s_median": float(np.median(sps)) if sps else None,
        "audio_seconds_per_s_median": float(np.median(sps)) * batch * crop / 44_100 if sps else None,
        "last_val": val[-1] if val else None,
        "best_val_loss_ema": min((r["val_loss_ema"] for r in val), default=None),
        "last_recon": rec[-1] if rec else None,
        "best_recon_si_sdr": max((r["recon_si_sdr"] for r in rec), default=None),
        "manifest_sha256": manifest,
        "hardware": args.hardware or this_machine(),
        "config": config,
    }


def this_machine() -> str:
    import torch

    cores = Path("/proc/cpuinfo").read_text().count("processor")
    return f"{platform.processor() or platform.machine()}, {cores} cores, {torch.backends.cpu.get_cpu_capability()}"


def data_words(cfg: dict) -> str:
    """The run's training and probe data as the config names them (folders with mixing weights)."""
    names = lambda key: ", ".join(f"`{d['path']}`" for d in cfg["train"].get(key) or []) or "none"  # noqa: E731
    return f"{names('data')}; reconstruction probe: {names('recon_data')}"


def read_notes(path: Path | None) -> dict[str, str]:
    """Hand-written text per card section: the marked blocks of an earlier card, else `## <heading>` sections."""
    if path is None or not path.is_file():
        return {}
    text = path.read_text()
    marked = MARKED.findall(text)
    if marked:
        notes = {head: body for head, body in marked}
    else:
        parts = re.split(r"^## (.+)$", text, flags=re.M)
        notes = {head.strip(): body.strip("\n") for head, body in zip(parts[1::2], parts[2::2])}
    unknown = sorted(set(notes) - set(HEADINGS))
    if unknown:
        sys.exit(f"{path}: unknown card section(s) {unknown}; the sections are {', '.join(HEADINGS)}")
    return notes


def _table(rows: list[dict], keys: list[str]) -> str:
    head = "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n"
    body = "".join(
        "| " + " | ".join(f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys) + " |\n"
        for r in rows
    )
    return head + body


def objective_words(train) -> str:
    """What the consistency objective of a TrainConfig trains, in words (the Δt schedule decides it)."""
    if train.delta_schedule == "ect":
        what = f"consistency training with Easy Consistency Tuning's relative step (q = {train.ect_q:g}, " \
               f"{train.ect_stages} stages)"
    elif min(train.delta_t_start, train.delta_t_end) >= 1.0:
        what = "plain denoising (Δt = 1: the teacher is the clean chunk), so one step from σ_max returns the " \
               "conditional mean given the latents, not a sample"
    else:
        what = f"consistency training, Δt {train.delta_t_start:g} → {train.delta_t_end:g}"
    extras = [f"loss weighting `{train.loss_weighting}`"]
    if train.t_max_fraction > 0:
        extras.append(f"{train.t_max_fraction:.0%} of the noise draws at σ_max")
    if train.output_magnitude_weight > 0:
        extras.append(f"output-magnitude loss weight {train.output_magnitude_weight:g}")
    if train.detach_cross:
        extras.append("`detach_cross` (encoder and decoder learn from the magnitude head only)")
    return f"{what}; {', '.join(extras)}"


def model_details(name: str, cfg: dict, steps: int) -> list[str]:
    import torch

    import m2l2

    with torch.device("meta"):  # counts only: no memory, no initialisation cost
        model = m2l2.build(cfg["model"])
    counts = model.parameter_counts()
    total = sum(counts.values())
    length, dim = model.config.latent_shape
    return [
        f"- Music2Latent2 (Pasini et al., arXiv 2501.17578) as implemented by m2l2: "
        f"{model.config.latent_kind} latents, {length} × {dim} values per {model.chunk_samples / 44_100:.3f}-s chunk "
        f"({model.compression_ratio:g}x compression), {'mono' if model.channels == 1 else 'stereo'}, 44.1 kHz.",
        f"- Parameters: {total:,} ({total / 1e6:.1f} M): " + ", ".join(f"{k}{' model' * (k == 'consistency')} {v:,}" for k, v in counts.items())
        + f". `m2l2 info results/checkpoints/{name}` prints them per module.",
        "- Weights: the EMA weights of the run, exported with `m2l2.checkpoint.export_inference` "
        f"(`step-{steps:08d}.safetensors` + `.json` sidecar). Load with "
        f"`m2l2.load('results/checkpoints/{name}')` or `m2l2 reconstruct IN OUT -c results/checkpoints/{name}`.",
    ]


def training_procedure(args, summary: dict, cfg: dict) -> list[str]:
    from m2l2.training.config import TrainConfig

    train = TrainConfig.from_dict(cfg["train"])
    ema = f"EMA {train.ema_decay:g}" + (" with upstream's warm-up" if train.ema_warmup else "")
    parent = cfg.get("init_from")
    started = [f"- started from `{parent['checkpoint']}` (its step {parent['step']}) with `--init-from`: a new run "
               "from step 0"] if parent else []
    return [
        *started,
        f"- steps: {summary['steps']} (batch {train.batch_size}, "
        f"{train.crop_samples or 67072} samples = two 64-frame chunks + 3 hops per item)",
        f"- objective: {objective_words(train)}",
        f"- optimiser: {train.optimizer}, lr {train.lr:g}, {train.warmup_steps} warm-up steps, cosine to "
        f"{train.lr_final:g}; {ema}; precision {train.precision}",
        f"- wall time: {summary['wall_hours']:.2f} h of training (pauses between segments not counted; "
        f"{args.contention})",
        f"- hardware: {summary['hardware']} (no GPU; the last field is torch's CPU capability)",
        "- throughput in this run: " + (
            f"median {summary['steps_per_s_median']:.3f} steps/s = {summary['audio_seconds_per_s_median']:.2f} "
            "audio-seconds/s, validation and probes excluded" if summary["steps_per_s_median"] is not None
            else "not logged (fewer than two logged training steps)"),
    ]


def curves_section(cfg: dict, rows: list[dict]) -> list[str]:
    val = {r["step"]: r for r in rows if "val_loss" in r}
    rec = {r["step"]: r for r in rows if "recon_si_sdr" in r}
    merged = [{**val.get(s, {}), **rec.get(s, {}), "step": s} for s in sorted(set(val) | set(rec))]
    lsd_keys = [k for k in (next(iter(rec.values())) if rec else {}) if k.startswith("recon_lsd_")]
    return [
        "### Training curves",
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


def eval_section(ev: dict) -> list[str]:
    lines = [
        "### Reconstruction of real eval clips (final EMA weights)",
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
    return lines


def continue_section(name: str) -> list[str]:
    return [
        f"`m2l2 train CONFIG --init-from results/checkpoints/{name} --set ...` starts a new run from these weights: "
        "step 0, a fresh optimizer, LR warm-up, Δt schedule and EMA warm-up (the parent is recorded in the run's "
        "`config.json`). The model settings must be the ones under `model:` above, or training refuses. "
        "`touch RUN_DIR/STOP` ends a run cleanly. Export the EMA weights with "
        "`python -c \"from m2l2.checkpoint import export_inference as e; e('RUN_DIR/checkpoints', 'OUT_DIR')\"` and "
        "write their card with `python scripts/make_card.py RUN_DIR OUT_DIR --eval-json EV.json --notes NOTES.md`: "
        "`--notes` takes Markdown with `## <section>` headings, or a card that this script wrote, whose "
        "hand-written sections it keeps.",
        "",
    ]


def config_section(cfg: dict) -> list[str]:
    from m2l2.training.config import RETIRED

    retired = [f"`train.{k}`" for k in RETIRED if k in cfg.get("train", {})]
    note = [f"Options since removed from the code, recorded here at their inert values: {', '.join(retired)}.", ""]
    return ["### Configuration (as trained)", "", *(note if retired else []), "```yaml",
            yaml.safe_dump(cfg, default_flow_style=None, sort_keys=False).strip(), "```", ""]


def write_card(args, summary: dict, rows: list[dict]) -> None:
    ev = json.loads(args.eval_json.read_text()) if args.eval_json else None
    if ev and ev.get("identification") is None:
        sys.exit(f"{args.eval_json} scores {ev.get('clips')} clip(s); a card needs an evaluation of at least 2 "
                 "(identification compares clips): rerun evaluate_checkpoint.py with --clips 24")
    cfg, name = summary["config"], args.out_dir.name
    notes = read_notes(args.notes)
    data = [f"- data: {args.data or data_words(cfg)}",
            f"- sha256 of the suite manifest where it trained: `{summary['manifest_sha256']}`", ""]
    # per section: generated lines before the hand-written notes, and after them
    generated = {
        "Model details": ([*model_details(name, cfg, summary["steps"]), ""], []),
        "Training data": (data, []),
        "Training procedure": ([*training_procedure(args, summary, cfg), ""], config_section(cfg)),
        "Evaluation": ([*curves_section(cfg, rows), *(eval_section(ev) if ev else [])], []),
        "How to continue training": ([], continue_section(name)),
    }
    lines = [f"# {name}: Music2Latent2 with {cfg['model'].get('latent_kind', 'summary')} latents", ""]
    for heading in HEADINGS:
        head, tail = generated.get(heading, ([], []))
        lines += [f"## {heading}", "", *head]
        if heading in notes:
            lines += [f"<!-- notes: {heading} -->", notes[heading], "<!-- end notes -->", ""]
        elif heading not in generated:
            lines += ["Not stated (write it in the --notes file).", ""]
        lines += tail
    (args.out_dir / "MODEL_CARD.md").write_text("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
