"""Score an exported checkpoint on suite music/eval clips: SI-SDR, per-band log-spectral error, FAD (MusiCNN).

usage: python scripts/evaluate_checkpoint.py CHECKPOINT OUT.json [--clips N] [--seconds S] [--steps K]
Clips are spread evenly over the sorted eval files (10 s each in the default suite); decoding as
`m2l2 reconstruct` does (one step, sigma_cond 0.4, a fixed seed) unless --steps/--sigma-cond say otherwise.
FAD over so few clips is biased upwards and only comparable between models scored on the same clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import m2l2
from benchmarks.metrics.sisdr import si_sdr
from m2l2.audio import convert_channels, load_audio, resample
from m2l2.autoencoder import DEFAULT_SIGMA_COND
from m2l2.spectral import SAMPLE_RATE
from m2l2.training.recon import BANDS, band_log_spectral_error

SUITE = Path.home() / ".cache/m2l2/suite"


def band_envelopes(audio: np.ndarray, sr: int = SAMPLE_RATE, bands: int = 48) -> np.ndarray:
    """Log energy in log-spaced bands (50 Hz - 11 kHz) per 46-ms frame, each band's time mean removed.

    What is left is how the music evolves in time (notes, beats, chords), not its level or timbre balance,
    which an early decoder gets wrong."""
    from scipy.signal import stft

    _, _, z = stft(convert_channels(audio, 1)[0], fs=sr, nperseg=2048, noverlap=1024)
    power = np.abs(z) ** 2
    freqs = np.fft.rfftfreq(2048, 1 / sr)
    edges = np.geomspace(50, 11_000, bands + 1)
    env = np.stack([power[(freqs >= lo) & (freqs < hi)].sum(0) for lo, hi in zip(edges[:-1], edges[1:])])
    env = np.log10(env + 1e-10)
    return env - env.mean(axis=1, keepdims=True)


def identification(refs: list[np.ndarray], recs: list[np.ndarray]) -> dict:
    """Is each reconstruction closer to its own original than to every other clip's? (Pearson correlation of
    band envelopes, time-aligned.) A proxy for 'recognisably the same music' that needs no listener."""
    r = [band_envelopes(x).ravel() for x in refs]
    e = [band_envelopes(x).ravel() for x in recs]
    n = min(len(v) for v in r + e)
    corr = np.corrcoef(np.stack([v[:n] for v in e]), np.stack([v[:n] for v in r]))[: len(e), len(e):]
    own = np.diag(corr)
    others = corr[~np.eye(len(e), dtype=bool)]
    return {"top1": float(np.mean(corr.argmax(axis=1) == np.arange(len(e)))), "corr_own_mean": float(own.mean()),
            "corr_other_mean": float(others.mean()), "corr_own": own.tolist()}


@torch.no_grad()
def head_magnitude(model, latents: torch.Tensor) -> torch.Tensor:
    """The decoder's auxiliary-head magnitude spectrogram of all chunks, [B, C, 1024, chunks·chunk_frames]."""
    return torch.cat([model.decoder.magnitude(model.decoder(latents[:, t])) for t in range(latents.shape[1])], -1)


def with_magnitude(decoded: np.ndarray, magnitude: torch.Tensor, chunk_frames: int) -> np.ndarray:
    """`decoded` [C, N] with its compressed magnitude replaced by `magnitude` (phase kept), same length.

    With the head's magnitude this is a diagnostic, not a decoder: it tells what the latents carry apart
    from how well the consistency model turns them into a sample."""
    from m2l2 import spectral

    padded, _ = spectral.pad_for_chunks(torch.from_numpy(decoded)[None], chunk_frames)
    rep = spectral.to_spec(padded)
    b, c2, f, t = rep.shape
    gain = magnitude.clamp_min(0.0) / spectral.magnitude(rep).clamp_min(1e-8)  # [B, C, F, T], per channel
    rep = (rep.reshape(b, c2 // 2, 2, f, t) * gain[:, :, None]).reshape(b, c2, f, t)
    return spectral.unpad(spectral.to_wave(rep), decoded.shape[-1])[0].numpy()


def level_db(reference: np.ndarray, output: np.ndarray) -> float:
    """Output RMS level relative to the reference's, in dB."""
    return float(20 * np.log10(max(float(output.std()), 1e-9) / max(float(reference.std()), 1e-9)))


def head_magnitude_summary(refs: list[np.ndarray], heads: list[np.ndarray]) -> dict:
    """The main scores of the head-magnitude rebuilds (see `with_magnitude`)."""
    return {
        "si_sdr_mean": float(np.nanmean([si_sdr(r, h).value for r, h in zip(refs, heads)])),
        "level_db_mean": float(np.mean([level_db(r, h) for r, h in zip(refs, heads)])),
        "lsd_mean_db": np.mean([band_log_spectral_error(r, h) for r, h in zip(refs, heads)], axis=0).tolist(),
        "identification": identification(refs, heads) if len(refs) > 1 else None,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=1, help="consistency sampling steps per chunk")
    p.add_argument("--sigma-cond", type=float, default=DEFAULT_SIGMA_COND)
    p.add_argument("--head-magnitude", action="store_true",
                   help="also score the decoded phase with the magnitude head's spectrogram (a diagnostic)")
    p.add_argument("--eval-dir", default=str(SUITE / "music/eval"))
    p.add_argument("--save-audio", default=None, help="folder for the first clip's original and reconstruction")
    args = p.parse_args()
    files = sorted(Path(args.eval_dir).glob("*.flac"))
    if not files:
        sys.exit(f"no .flac clips in {args.eval_dir}: build the offline suite first (`make data`) or pass --eval-dir")
    model = m2l2.load(args.checkpoint)
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(args.clips, len(files))).round().astype(int)]
    rows, refs, recs, heads = [], [], [], []
    start = time.time()
    for i, path in enumerate(picks):
        audio, _ = load_audio(path, sample_rate=SAMPLE_RATE)
        audio = convert_channels(audio, model.channels)[:, : int(args.seconds * SAMPLE_RATE)]
        latents = model.encode(torch.from_numpy(audio)[None])
        gen = torch.Generator().manual_seed(0)
        out = model.decode(latents, sigma_cond=args.sigma_cond, steps=args.steps, length=audio.shape[-1],
                           generator=gen)[0].numpy()
        sdr = si_sdr(audio, out).value
        rows.append({"clip": path.name, "si_sdr": sdr, "lsd": band_log_spectral_error(audio, out),
                     "level_db": level_db(audio, out)})
        refs.append(audio)
        recs.append(out)
        if args.head_magnitude:
            heads.append(with_magnitude(out, head_magnitude(model, latents), model.config.chunk_frames))
        if args.save_audio and i == 0:
            from m2l2.audio import save_audio

            Path(args.save_audio).mkdir(parents=True, exist_ok=True)
            save_audio(Path(args.save_audio) / f"original-{path.stem}.wav", audio, SAMPLE_RATE)
            save_audio(Path(args.save_audio) / f"reconstruction-{path.stem}.wav", out, SAMPLE_RATE)
            if heads:
                save_audio(Path(args.save_audio) / f"head-magnitude-{path.stem}.wav", heads[-1], SAMPLE_RATE)
        print(f"{path.name}: SI-SDR {sdr:.2f} dB", flush=True)
    summary = {
        "checkpoint": str(args.checkpoint),
        "clips": len(rows),
        "seconds": args.seconds,
        "steps": args.steps,
        "sigma_cond": args.sigma_cond,
        "si_sdr_mean": float(np.nanmean([r["si_sdr"] for r in rows])),
        "si_sdr_median": float(np.nanmedian([r["si_sdr"] for r in rows])),
        "level_db_mean": float(np.mean([r["level_db"] for r in rows])),
        "lsd_bands_hz": [list(b) for b in BANDS],
        "lsd_mean_db": np.mean([r["lsd"] for r in rows], axis=0).tolist(),
        "si_sdr_other_clip_mean": float(np.nanmean([si_sdr(refs[i], refs[(i + 1) % len(refs)]).value
                                                    for i in range(len(refs))]))  # an unrelated signal, for scale
        if len(refs) > 1 else None,
        "identification": identification(refs, recs) if len(refs) > 1 else None,
        "per_clip": rows,
        **({"head_magnitude": head_magnitude_summary(refs, heads)} if heads else {}),
        "seconds_taken": time.time() - start,
    }
    try:
        from benchmarks.embedders import get_embedder
        from benchmarks.metrics.frechet import fad

        emb = get_embedder("fad-musicnn")

        def embed(clips):
            out = []
            for c in clips:
                mono = resample(convert_channels(c, 1), SAMPLE_RATE, emb.sample_rate)[0]
                frames = np.asarray(emb.embed(mono))
                out.append(frames.reshape(-1, frames.shape[-1]))
            return np.concatenate(out)

        summary["fad_musicnn"] = fad(embed(refs), embed(recs))
    except Exception as e:  # FAD is optional here: report why it is missing
        summary["fad_musicnn"] = None
        summary["fad_musicnn_error"] = f"{type(e).__name__}: {e}"
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "per_clip"}, indent=1))


if __name__ == "__main__":
    main()
