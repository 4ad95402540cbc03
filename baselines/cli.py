"""`m2l2 baselines list|reconstruct`: which autoencoders can run here, and a quick round trip through one."""

from __future__ import annotations

import argparse
import json

from m2l2.errors import M2L2Error


def register(subparsers) -> None:
    p = subparsers.add_parser("baselines", help="list baseline autoencoders and run them")
    s = p.add_subparsers(dest="baselines_command", metavar="ACTION")
    ls = s.add_parser("list", help="each adapter: package importable? weights present? what to do otherwise")
    ls.add_argument("--autoencoders", action="append", default=[], metavar="YAML",
                    help="extra YAML file naming adapters (import: package.module:Class, args:)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_cmd_list)
    rc = s.add_parser("reconstruct", help="encode and decode an audio file through one adapter")
    rc.add_argument("name", help="adapter name, options as name:key=value,key=value")
    rc.add_argument("input", help="audio file to reconstruct")
    rc.add_argument("output", help="audio file to write")
    rc.add_argument("--autoencoders", action="append", default=[], metavar="YAML",
                    help="a YAML file registering more autoencoders (repeatable)")
    rc.add_argument("--allow-random", action="store_true",
                    help="allow adapters without pretrained weights (tests and debugging only)")
    rc.set_defaults(func=_cmd_reconstruct)
    p.set_defaults(func=_cmd_list, autoencoders=[], json=False)


def _cmd_list(args: argparse.Namespace) -> int:
    import baselines

    for path in args.autoencoders:
        baselines.add_yaml(path)
    infos = baselines.available()
    if args.json:
        print(json.dumps([{**vars(i), "state": i.state, "ready": i.ready} for i in infos], indent=2))
        return 0
    from baselines.hub import DOWNLOAD_ENV, hub_cache_dir
    from m2l2.weights import weights_dir

    print(f"hub cache: {hub_cache_dir()}  (HF_HOME / HF_HUB_CACHE; downloads only with `m2l2 weights fetch NAME`, "
          f"download=true or {DOWNLOAD_ENV}=1)")
    print(f"weights directory: {weights_dir()}  (set M2L2_WEIGHTS_DIR to change)")
    print(f"{'name':24s} {'state':11s} {'packages':28s} {'weights':16s} source")
    for i in infos:
        pkgs = ", ".join(f"{m}:{'ok' if v == 'ok' else 'NO'}" for m, v in i.packages.items()) or "-"
        wts = ", ".join(f"{'ok' if v == 'present' else 'missing'}" for v in i.weights.values()) or "-"
        print(f"{i.name:24s} {i.state:11s} {pkgs:28s} {wts:16s} {i.source}")
        if i.description:
            print(f"    {i.description}")
        if i.latent:
            print(f"    latent: {i.latent}")
        if i.licence:
            print(f"    licence: {i.licence}")
        if i.note:
            print(f"    note: {i.note}")
        for m, v in i.packages.items():
            if v != "ok":
                print(f"    {m}: {v}")
        for a in i.actions:
            print(f"    to do: {a}")
    return 0


def _check_output(args: argparse.Namespace) -> None:
    """Refuse, before an adapter is built or any audio decoded, an output that would overwrite the input or
    whose suffix nothing can write: the mistake then costs no model loading."""
    from m2l2.audio import WRITABLE_SUFFIXES
    from m2l2.commands import check_output_path

    check_output_path(args.output, args.input, WRITABLE_SUFFIXES)


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    import baselines
    from m2l2.audio import load_audio, save_audio

    _check_output(args)
    for path in args.autoencoders:
        baselines.add_yaml(path)
    ae = baselines.get(args.name)
    if not ae.pretrained and not args.allow_random:
        raise M2L2Error(
            f"{ae.name} has no pretrained weights, {ae.provenance.note or 'none declared'} ({args.name}): "
            "pass --allow-random to run it anyway"
        )
    audio, sr = load_audio(args.input, max_channels=2)  # more channels: averaged, with a warning
    out = baselines.reconstruct(ae, audio, sr)
    save_audio(args.output, out, sr)
    print(f"{ae!r}: wrote {args.output}")
    return 0
