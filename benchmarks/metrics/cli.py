"""`m2l2 metrics REF_DIR EST_DIR`: score reconstructions against references, files paired by relative path.

Options of set-level metrics are keyed by embedder ("fad-clap"), so `kad-clap` gets the same device and
checkpoint as `fad-clap` and both share one embedder and its cached embeddings.

Nothing is lost on bad input: a pair that cannot be scored (unreadable audio, channel counts that do not
match) is skipped with a warning naming the file and listed after the table, and the numbers are printed
before `--out` is written, so a folder that turns out unwritable or a full disk keeps them (a copy is saved
in the temporary folder and the error says where)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.embedders.clap import CHECKPOINTS, DEFAULT_CHECKPOINT
from benchmarks.metrics import METRICS
from benchmarks.metrics.evaluate import EvalConfig, evaluate_pairs, pairs_from_dirs
from m2l2.errors import M2L2Error

# Metrics whose code and weights ship with `make install`, so the default runs offline; add fad-vggish and
# fad-clap (weights from their hubs) with --metrics.
DEFAULT_METRICS = "sisdr,visqol,mel-distance,stft-distance,fad-musicnn"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="SI-SDR, ViSQOL, mel/STFT distances, FAD and KAD of reconstructions against references",
        description="Score every file of EST_DIR against the file with the same relative path (any audio "
        "extension) in REF_DIR. Prints aggregates with bootstrap confidence intervals over clips; metrics "
        "whose weights or packages are missing are shown as 'not computed', never as a number. Metrics: "
        f"{', '.join(METRICS)} (kad-X uses fad-X's embedder and embedding cache).",
    )
    p.add_argument("reference_dir", metavar="REF_DIR", help="reference audio files")
    p.add_argument("estimate_dir", metavar="EST_DIR", help="reconstructions, paired with the references by relative path")
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
    p.add_argument("--clap-checkpoint", choices=sorted(CHECKPOINTS), default=DEFAULT_CHECKPOINT,
                   help="LAION-CLAP checkpoint of fad-clap / kad-clap")
    p.add_argument("--weights-dir", help="folder holding weights files (sets M2L2_WEIGHTS_DIR)")
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap replicates for per-clip metrics' and KAD's CIs"
    )
    p.add_argument("--fad-bootstrap", type=int, default=200, help="bootstrap replicates for FAD CIs")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")
    p.add_argument("--workers", type=int, default=None, help="ViSQOL processes (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device for the embedders")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _cache_dir(args) -> str | None:
    if args.cache_dir is not None:
        return None if args.cache_dir.lower() == "none" else args.cache_dir
    if args.out is not None:
        return str(args.out.parent / "embedding-cache")
    return str(Path("results") / "embedding-cache")


def _check_out(out: Path | None) -> None:
    """Refuse, before any work, an --out that is not .json or whose folder cannot be written."""
    if out is None:
        return
    if out.suffix.lower() != ".json":
        raise M2L2Error(f"unknown --out extension {out.suffix or '(none)'!r} ({out}): give a .json file")
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".m2l2-write-test-"):
            pass
    except OSError as e:
        raise M2L2Error(
            f"cannot write into the --out folder, {e.strerror or e} ({folder}): choose a writable folder"
        ) from None


def _channels(path: Path) -> int | None:
    from m2l2.audio import audio_info

    info = audio_info(path)
    return None if info is None else info.channels


def screen_channels(pairs: list) -> tuple[list, dict[str, str]]:
    """(pairs whose channel counts can be compared, clip → why each other pair is skipped). Equal counts and
    mono on one side work (the other is down-mixed); 2 against 3 channels has no meaning for SI-SDR."""
    kept, skipped = [], {}
    for pair in pairs:
        ref, est = _channels(pair.reference), _channels(pair.estimate)
        if ref is not None and est is not None and ref != est and 1 not in (ref, est):
            skipped[pair.clip] = f"estimate {pair.estimate}: {est} channels, its reference {ref}"
        else:
            kept.append(pair)
    return kept, skipped


def _record_skips(result, skipped: dict[str, str]) -> None:
    """Add pairs skipped before the evaluation to its per-clip table, summaries and provenance."""
    for clip, why in skipped.items():
        result.clips.append(clip)
        for metric, values in result.per_clip.items():
            values.append(None)
            result.summaries[metric].skipped[clip] = why
    result.provenance["unusable_clips"] = {**result.provenance["unusable_clips"], **skipped}


def _save(result, out: Path) -> None:
    """Write --out; when that fails, keep the numbers in the temporary folder and say where."""
    try:
        json_path, csv_path = result.write(out)
    except OSError as e:
        keep = Path(tempfile.gettempdir()) / f"m2l2-metrics-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
        try:
            result.write(keep)
            kept = f"the numbers are printed above and saved in {keep}"
        except OSError:
            kept = "the numbers are printed above"
        raise M2L2Error(
            f"cannot write the results, {e.strerror or e} ({e.filename or out}): {kept}; free space or choose "
            "another --out"
        ) from None
    print(f"saved {json_path} and {csv_path}", file=sys.stderr)


def run(args) -> int:
    if args.weights_dir:
        os.environ["M2L2_WEIGHTS_DIR"] = str(Path(args.weights_dir).expanduser())
    _check_out(args.out)
    pairs, missing, extra = pairs_from_dirs(args.reference_dir, args.estimate_dir)
    if missing:
        print(
            f"warning: {len(missing)} reference clips have no estimate (e.g. {missing[0]})", file=sys.stderr
        )
    if extra:
        print(f"warning: {len(extra)} estimates have no reference (e.g. {extra[0]})", file=sys.stderr)
    if not pairs:
        raise M2L2Error(
            f"no file of the estimates matches a reference ({args.estimate_dir}, {args.reference_dir}): name "
            "each estimate by the relative path of its reference (any audio extension)"
        )
    pairs, mismatched = screen_channels(pairs)
    if not pairs:
        raise M2L2Error(
            f"no pair can be scored: {next(iter(mismatched.values()))} ({args.estimate_dir}): give estimates "
            "with their references' channel counts (or mono)"
        )
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
    _record_skips(result, mismatched)
    skipped = result.provenance["unusable_clips"]
    for clip, why in skipped.items():
        print(f"warning: skipped clip {clip}: {why}", file=sys.stderr)
    result.provenance.update(
        reference_dir=str(args.reference_dir),
        estimate_dir=str(args.estimate_dir),
        unpaired_references=missing,
        unpaired_estimates=extra,
    )
    if args.json:
        print(json.dumps(result.aggregates(), allow_nan=False))
    else:
        print(result.table())
        if skipped:
            print(f"skipped {len(skipped)} of {len(result.clips)} clips:")
            print("\n".join(f"  {clip}: {why}" for clip, why in skipped.items()))
    sys.stdout.flush()
    if args.out is not None:
        _save(result, args.out)
    return 0
