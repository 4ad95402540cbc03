"""`m2l2 data build|verify`: build the offline default suite, or check it against its manifest."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.suite import PARTS, TRAINING_PARTS, default_root
from m2l2.errors import M2L2Error


def _parts(text: str | None) -> list[str] | None:
    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS + TRAINING_PARTS]
    if unknown:
        raise M2L2Error(
            f"unknown part(s) {', '.join(unknown)} (--parts): use one of {', '.join(PARTS + TRAINING_PARTS)}"
        )
    return parts


def _build(args: argparse.Namespace) -> int:
    from benchmarks.suite.build import build

    root = Path(args.root) if args.root else default_root()
    t0 = time.time()
    manifest = build(root, _parts(args.parts), small=args.small, workers=args.workers)
    total = sum(info["count"] for info in manifest["parts"].values())
    counts = ", ".join(f"{p} {i['count']}" for p, i in manifest["parts"].items())
    print(f"suite at {root}: {total} clips ({counts}) in {time.time() - t0:.0f} s")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from benchmarks.suite.manifest import verify

    root = Path(args.root) if args.root else default_root()
    problems = verify(root, _parts(args.parts))
    for p in problems[:50]:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {root}; rebuild with `m2l2 data build --root {root}`")
        return 1
    print(f"{root}: every file matches manifest.json")
    return 0


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="build or verify the offline default suite")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    b = sub.add_parser("build", help="build the default suite from Debian packages (resumable)")
    b.add_argument("--root", help="output folder (default $M2L2_DATA_DIR or ~/.cache/m2l2/suite)")
    b.add_argument("--parts", help=f"comma-separated parts (default {','.join(PARTS)}; also {','.join(TRAINING_PARTS)}: full tracks for training)")
    b.add_argument("--small", action="store_true", help="a few clips per part (for tests)")
    b.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default $M2L2_WORKERS or 2; 1 with --small); the output does not depend on it",
    )
    b.set_defaults(func=_build)
    v = sub.add_parser("verify", help="check every file against manifest.json")
    v.add_argument("--root", help="suite folder (default $M2L2_DATA_DIR or ~/.cache/m2l2/suite)")
    v.add_argument("--parts", help="comma-separated parts to verify (default: every built part)")
    v.set_defaults(func=_verify)
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
