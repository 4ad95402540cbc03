"""`m2l2 metrics REF_DIR EST_DIR`: score reconstructions against references, files paired by relative path.

Options of set-level metrics are keyed by embedder ("fad-clap"), so `kad-clap` gets the same device and
checkpoint as `fad-clap` and both share one embedder and its cached embeddings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from benchmarks.embedders.clap import CHECKPOINTS, DEFAULT_CHECKPOINT
from benchmarks.metrics import METRICS
from benchmarks.metrics.evaluate import EvalConfig, evaluate_pairs, pairs_from_dirs
from m2l2.errors import M2L2Error

DEFAULT_METRICS = "sisdr,visqol,fad-vggish,fad-clap"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="SI-SDR, ViSQOL, mel/STFT distances, FAD and KAD of reconstructions against references",
        description="Score every file of EST_DIR against the file with the same relative path (any audio "
        "extension) in REF_DIR. Prints aggregates with bootstrap confidence intervals over clips; metrics "
        "whose weights or packages are missing are shown as 'not computed', never as a number. Metrics: "
        f"{', '.join(METRICS)} (kad-X uses fad-X's embedder and embedding cache).",
    )
    p.add_argument("reference_dir", metavar="REF_DIR")
    p.add_argument("estimate_dir", metavar="EST_DIR")
    p.add_argument("--metrics", default=DEFAULT_METRICS, help=f"comma-separated (default {DEFAULT_METRICS})")
    p.add_argument(
        "--json", action="store_true", help="print the aggregates as one JSON object keyed by metric"
    )
    p.add_argument(
        "--out", type=Path, help="save aggregates, per-clip values and provenance as JSON (+ .per_clip.csv)"
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache (default: embedding-cache/ next to --out, else results/embedding-cache; 'none' disables)",
    )
    p.add_argument("--clap-checkpoint", choices=sorted(CHECKPOINTS), default=DEFAULT_CHECKPOINT)
    p.add_argument("--weights-dir", help="folder holding weights files (sets M2L2_WEIGHTS_DIR)")
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap replicates for per-clip metrics' and KAD's CIs"
    )
    p.add_argument("--fad-bootstrap", type=int, default=200, help="bootstrap replicates for FAD CIs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="ViSQOL processes (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device for the embedders")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _cache_dir(args) -> str | None:
    if args.cache_dir is not None:
        return None if args.cache_dir.lower() == "none" else args.cache_dir
    if args.out is not None:
        return str(args.out.parent / "embedding-cache")
    return str(Path("results") / "embedding-cache")


def run(args) -> int:
    if args.weights_dir:
        os.environ["M2L2_WEIGHTS_DIR"] = str(Path(args.weights_dir).expanduser())
    pairs, missing, extra = pairs_from_dirs(args.reference_dir, args.estimate_dir)
    if missing:
        print(
            f"warning: {len(missing)} reference clips have no estimate (e.g. {missing[0]})", file=sys.stderr
        )
    if extra:
        print(f"warning: {len(extra)} estimates have no reference (e.g. {extra[0]})", file=sys.stderr)
    if not pairs:
        raise M2L2Error(f"no files of {args.estimate_dir} match a file of {args.reference_dir}")
    options = {
        "fad-vggish": {"device": args.device},
        "fad-clap": {"device": args.device, "checkpoint": args.clap_checkpoint},
    }
    config = EvalConfig(
        n_boot=args.bootstrap,
        fad_n_boot=args.fad_bootstrap,
        seed=args.seed,
        visqol_workers=args.workers,
        cache_dir=_cache_dir(args),
        embedder_options=options,
    )
    result = evaluate_pairs(pairs, args.metrics, config, progress=not args.no_progress)
    for clip, why in result.provenance["unusable_clips"].items():
        print(f"warning: skipped clip {clip}: {why}", file=sys.stderr)
    result.provenance.update(
        reference_dir=str(args.reference_dir),
        estimate_dir=str(args.estimate_dir),
        unpaired_references=missing,
        unpaired_estimates=extra,
    )
    if args.out is not None:
        json_path, csv_path = result.write(args.out)
        print(f"saved {json_path} and {csv_path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.aggregates(), allow_nan=False))
    else:
        print(result.table())
    return 0
