"""`m2l2 encode | decode | reconstruct | info | speed`: the model's command-line interface."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from m2l2.autoencoder import DECODE_MODES, DEFAULT_SIGMA_COND
from m2l2.errors import M2L2Error


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", "-c", help="trained checkpoint (its .json sidecar, .safetensors or run folder)")
    p.add_argument(
        "--untrained", metavar="CONFIG", help="use an untrained model of this configuration (for smoke tests only)"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")


def _model_from_args(args):
    import m2l2

    if bool(args.checkpoint) == bool(args.untrained):
        given = "both --checkpoint and --untrained given" if args.checkpoint else "no model given"
        raise M2L2Error(f"{given} (--checkpoint, --untrained): give exactly one of --checkpoint PATH or "
                        "--untrained CONFIG")
    if args.checkpoint:
        return m2l2.load(args.checkpoint, device=args.device), str(args.checkpoint)
    print(f"warning: untrained {args.untrained!r} model with random weights", file=sys.stderr)
    return m2l2.build(args.untrained).to(args.device), f"untrained:{args.untrained}"


def _weights_id(model, source: str) -> str | None:
    """The identity of a model's weights written into latent files (None: untrained random weights, which
    differ on every run and identify nothing)."""
    from m2l2.checkpoint import weights_fingerprint

    return None if source.startswith("untrained:") else weights_fingerprint(model.state_dict())


def check_output_path(output: str, input: str, suffixes: tuple[str, ...]) -> None:
    """Refuse, before any long work, an output that would overwrite the input or whose suffix nothing can
    write (also `m2l2 baselines reconstruct`'s check)."""
    from m2l2.io import same_file

    if same_file(Path(output), input):
        raise M2L2Error(
            f"the output is the input ({output}): give another output path; the input is kept"
        )
    suffix = Path(output).suffix
    if suffix.lower() not in suffixes:
        raise M2L2Error(
            f"unknown output extension {suffix or '(none)'!r} ({output}): use one of {', '.join(suffixes)}"
        )


def _check_output(args, suffixes: tuple[str, ...]) -> None:
    """`check_output_path`, and refuse an output folder that does not exist (it is never created silently)."""
    check_output_path(args.output, args.input, suffixes)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise M2L2Error(
            f"output folder does not exist ({out.parent}): create it first, or choose another output"
        )


def _check_latent_identity(meta: dict, model, source: str, path: str) -> None:
    """Refuse latents made by another model: another configuration or, when both are known, other weights."""
    from m2l2.config import ModelConfig

    if meta.get("config") and ModelConfig.normalise(meta["config"]) != model.config.to_dict():
        raise M2L2Error(
            f"latents made by a model with another configuration ({meta.get('model')}) ({path}): decode them "
            "with that model's checkpoint"
        )
    if "weights" not in meta:  # written before latent files carried the weights' identity
        return
    mine = _weights_id(model, source)
    if meta["weights"] != mine:
        made = "untrained random weights" if meta["weights"] is None else f"weights {meta['weights'][:12]}"
        have = "untrained random weights" if mine is None else f"weights {mine[:12]}"
        raise M2L2Error(
            f"latents made by another model, {meta.get('model')} ({made}), not {source} ({have}) ({path}): "
            "decode them with the checkpoint that encoded them"
        )


def _decode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sigma-cond", type=float, default=DEFAULT_SIGMA_COND, help="noise level of the re-decoded previous chunk")
    p.add_argument("--steps", type=int, default=1, help="consistency sampling steps per chunk")
    p.add_argument("--seed", type=int, default=0, help="seed of the decoding noise")
    p.add_argument("--mode", choices=DECODE_MODES, default="autoregressive",
                   help="autoregressive (the paper) or parallel: all chunks at once, then each with its left "
                        "neighbour (not in the paper)")
    p.add_argument("--one-step", action="store_true",
                   help="keep each chunk's first decode instead of re-decoding it with the next chunk at "
                        "--sigma-cond (one-step decoding; the paper's default is two-step)")


def register(subparsers) -> None:
    for name, help_text, func, decodes in (
        ("encode", "audio file → latent file (.safetensors)", cmd_encode, False),
        ("decode", "latent file → audio file", cmd_decode, True),
        ("reconstruct", "audio file → encode → decode → audio file", cmd_reconstruct, True),
    ):
        p = subparsers.add_parser(name, help=help_text)
        p.add_argument("input", help="file to read (audio, or latents for decode)")
        p.add_argument("output", help="file to write (.wav/.flac/.ogg audio, or .safetensors latents for encode)")
        _add_model_args(p)
        p.add_argument("--max-batch", type=int, default=8,
                       help="chunks per batched pass (encoding; parallel decoding): peak memory grows with it "
                            "(default: 8)")
        if decodes:
            _decode_args(p)
        p.set_defaults(func=func)

    p = subparsers.add_parser("info", help="parameter counts, compression ratio and latent rate")
    p.add_argument("target", help="configuration name, YAML file or checkpoint")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides, e.g. model.depth=8")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser("speed", help="encode/decode real-time factors and peak memory (random weights)")
    p.add_argument("--config", default="paper", help="named configuration or YAML (default: paper)")
    p.add_argument("--seconds", type=float, nargs="*", default=[10.0, 60.0], help="audio durations timed (default: 10 60)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu or cuda[:N] (default: cuda when available)")
    p.add_argument("--no-upstream", action="store_true", help="skip upstream Music2Latent")
    p.add_argument("--repeats", type=int, default=1, help="timed repeats per duration; the median is reported")
    p.add_argument("--mode", choices=DECODE_MODES, default="autoregressive",
                   help="Music2Latent2's decoding mode")
    p.add_argument("--channels-last", action="store_true", help="channels-last convolutions (both models)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (both models; CPUs with native BF16 only); prints the output difference")
    p.set_defaults(func=cmd_speed)


def _encode_file(path: str, model, max_batch: int) -> tuple[torch.Tensor, int, int]:
    """Latents of an audio file read block by block (memory independent of its length), its sample rate
    and its length at the model's rate."""
    from m2l2.audio import read_blocks

    blocks, sr, frames = read_blocks(path, model.channels)
    latents = model.encode_blocks((torch.from_numpy(b) for b in blocks), sr, max_batch=max_batch)
    return latents, sr, round(frames * model.sample_rate / sr)


def cmd_encode(args) -> int:
    from m2l2.latent_file import save_latents

    _check_output(args, (".safetensors",))
    model, source = _model_from_args(args)
    latents, sr, length = _encode_file(args.input, model, args.max_batch)
    save_latents(
        args.output,
        latents,
        {"length": length, "sample_rate": model.sample_rate, "source_rate": sr, "model": source,
         "config": model.config.to_dict(), "weights": _weights_id(model, source)},
    )
    print(f"{args.input} → {args.output}: latents {tuple(latents.shape)}")
    return 0


def _decode_to_file(model, latents, length, args) -> None:
    """Decode straight into the output file, block by block as chunks complete (memory independent of the
    length); the file appears, atomically, when the last block is written."""
    from m2l2.audio import write_blocks
    from m2l2.decoding import Decoding, decode_blocks

    decoding = Decoding(args.mode, args.sigma_cond, args.steps, not args.one_step, args.max_batch)
    blocks = decode_blocks(model, latents, decoding, length, torch.Generator().manual_seed(args.seed), progress=True)
    write_blocks(args.output, (b[0].cpu().numpy() for b in blocks), model.sample_rate, model.channels)


def cmd_decode(args) -> int:
    from m2l2.audio import WRITABLE_SUFFIXES
    from m2l2.latent_file import load_latents

    _check_output(args, WRITABLE_SUFFIXES)
    latents, meta = load_latents(args.input)
    model, source = _model_from_args(args)
    _check_latent_identity(meta, model, source, args.input)
    _decode_to_file(model, latents, meta.get("length"), args)
    print(f"{args.input} → {args.output}")
    return 0


def cmd_reconstruct(args) -> int:
    from m2l2.audio import WRITABLE_SUFFIXES

    _check_output(args, WRITABLE_SUFFIXES)
    model, _ = _model_from_args(args)
    latents, _, length = _encode_file(args.input, model, args.max_batch)
    _decode_to_file(model, latents, length, args)
    print(f"{args.input} → {args.output} ({model.sample_rate} Hz, {model.channels} channel(s))")
    return 0


def cmd_info(args) -> int:
    import m2l2

    target = Path(args.target)
    if target.suffix in {".json", ".safetensors"} or target.is_dir():
        model = m2l2.load(target)
    else:
        model = m2l2.build(args.target, args.set)
    total = 0
    print(f"{'module':38s} {'parameters':>14s}")
    for name, module in model.named_children():
        n = sum(p.numel() for p in module.parameters())
        total += n
        print(f"{name:38s} {n:14,d}")
        for sub, child in module.named_children():
            print(f"  {sub:36s} {sum(p.numel() for p in child.parameters()):14,d}")
    print(f"{'total':38s} {total:14,d}  ({total / 1e6:.1f} M)")
    length, dim = model.config.latent_shape
    print(f"channels: {model.channels}   latent kind: {model.config.latent_kind}   latents per chunk: {length}×{dim}")
    print(f"chunk: {model.chunk_samples} samples ({model.chunk_samples / model.sample_rate:.3f} s)")
    print(f"compression ratio: {model.compression_ratio:g}x   latent rate: {model.latent_rate:.2f} Hz "
          f"({model.chunk_rate:.3f} chunks/s)")
    return 0


def cmd_speed(args) -> int:
    from m2l2.speed import SpeedOptions, run_speed

    run_speed(args.config, args.seconds, args.device, upstream=not args.no_upstream, repeats=args.repeats,
              mode=args.mode, opts=SpeedOptions(channels_last=args.channels_last, bf16=args.bf16))
    return 0
