"""`m2l2 compare A_DIR B_DIR --ref REF_DIR`: is system A better than system B on the same reference clips?

Files are paired by relative path, as `m2l2 metrics` pairs them (`pairs_from_dirs`), and only clips present
in all three folders are compared. Per-clip metrics (SI-SDR, ViSQOL, mel/STFT distances) and per-song FAD
give the mean difference A − B over the clips both systems scored, a paired bootstrap interval and a
sign-flip permutation p-value (`benchmarks.metrics.paired`); set metrics (FAD, KAD) give the difference of
the two set values with a joint clip bootstrap over the cached embeddings (`benchmarks.metrics.paired_sets`).
The methods and the significance marks are described in docs/statistics.md.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.embedders.clap import CHECKPOINTS, DEFAULT_CHECKPOINT
from benchmarks.metrics import METRICS, PER_CLIP_METRICS, embedder_key
from benchmarks.metrics.cli import DEFAULT_METRICS
from benchmarks.metrics.paired import N_PERM, Comparison, not_computed, paired_difference
from m2l2.errors import M2L2Error


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="paired comparison of two systems' outputs on the same reference clips (interval, p-value)",
        description="Compare the files of A_DIR and B_DIR with the reference file of the same relative path "
        "in REF_DIR (any audio extension; clips present in all three folders). Per metric: A − B with a "
        "paired bootstrap interval and a p-value (per-clip metrics and per-song FAD: sign-flip permutation "
        "test; FAD/KAD: joint clip bootstrap of both set values, reweighting cached embeddings). Marks: "
        "* p < 0.05, ** p < 0.01, *** p < 0.001. See docs/statistics.md.",
    )
    p.add_argument("a_dir", metavar="A_DIR", help="system A's outputs (paired with the references by relative path)")
    p.add_argument("b_dir", metavar="B_DIR", help="system B's outputs")
    p.add_argument("--ref", required=True, metavar="REF_DIR", help="folder of the reference clips")
    p.add_argument("--metrics", default=DEFAULT_METRICS, help=f"comma-separated (default {DEFAULT_METRICS})")
    p.add_argument("--json", action="store_true", help="print the comparisons as one JSON object")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for per-clip metrics and KAD")
    p.add_argument("--fad-bootstrap", type=int, default=200, help="resamples for FAD differences")
    p.add_argument("--permutations", type=int, default=N_PERM, help="random sign patterns of the test")
    p.add_argument("--ci-level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples (fixed: reruns give the same intervals)")
    p.add_argument(
        "--cache-dir",
        default=str(Path("results") / "embedding-cache"),
        help="embedding cache shared with `m2l2 metrics` ('none' disables)",
    )
    p.add_argument("--clap-checkpoint", choices=sorted(CHECKPOINTS), default=DEFAULT_CHECKPOINT,
                   help="LAION-CLAP checkpoint of fad-clap / kad-clap")
    p.add_argument("--weights-dir", help="folder holding weights files (sets M2L2_WEIGHTS_DIR)")
    p.add_argument("--workers", type=int, default=None, help="ViSQOL processes (default: all cores)")
    p.add_argument("--device", default="cpu", help="torch device for the embedders")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


@dataclass
class Settings:
    n_boot: int
    fad_n_boot: int
    n_perm: int
    level: float
    seed: int


def common_pairs(ref: str, a: str, b: str) -> tuple[list[Any], list[Any], dict[str, list[str]]]:
    """(pairs of A, pairs of B, unpaired clips per side) over the clips present in all three folders."""
    from benchmarks.metrics.evaluate import pairs_from_dirs

    for name, folder in (("reference", ref), ("A", a), ("B", b)):
        if not Path(folder).is_dir():
            raise M2L2Error(f"{name} folder not found ({folder}): give an existing folder of audio files")
    pairs_a, missing_a, extra_a = pairs_from_dirs(ref, a)
    pairs_b, missing_b, extra_b = pairs_from_dirs(ref, b)
    keys = {p.clip for p in pairs_a} & {p.clip for p in pairs_b}
    if not keys:
        raise M2L2Error(
            f"no clip is in all three folders ({ref}, {a}, {b}): name each system's files by the relative "
            "path of their reference (any audio extension)"
        )
    unpaired = {  # clips a side has without the other side or without a reference, references it lacks
        "A": sorted({p.clip for p in pairs_a} - keys) + extra_a + missing_a,
        "B": sorted({p.clip for p in pairs_b} - keys) + extra_b + missing_b,
    }
    keep = sorted(keys)
    by_a, by_b = {p.clip: p for p in pairs_a}, {p.clip: p for p in pairs_b}
    return [by_a[k] for k in keep], [by_b[k] for k in keep], unpaired


def clip_comparisons(
    pairs_a: list[Any], pairs_b: list[Any], metrics: list[str], args: Any, st: Settings
) -> list[Comparison]:
    """A − B of each per-clip metric, on the values `evaluate_pairs` gives each side."""
    from benchmarks.metrics.evaluate import EvalConfig, evaluate_pairs

    if not metrics:
        return []
    config = EvalConfig(n_boot=0, seed=st.seed, visqol_workers=args.workers)
    progress = not args.no_progress
    ev_a = evaluate_pairs(pairs_a, metrics, config, progress=progress)
    ev_b = evaluate_pairs(pairs_b, metrics, config, progress=progress)
    out = []
    for m in metrics:
        if ev_a.summaries[m].status != "ok" or ev_b.summaries[m].status != "ok":
            why = ev_a.summaries[m].reason or ev_b.summaries[m].reason or "not computed"
            out.append(not_computed(m, "per-clip", why))
            continue
        a, b = (_capped(m, ev.per_clip[m], config.sisdr_ceiling_db) for ev in (ev_a, ev_b))
        out.append(
            paired_difference(
                a, b, m, "per-clip", n_boot=st.n_boot, n_perm=st.n_perm, seed=st.seed, level=st.level
            )
        )
    return out


def _capped(metric: str, values: list[float | None], ceiling: float) -> list[float | None]:
    """SI-SDR of identical signals (+inf dB) counts as the ceiling, as in every mean of the tables."""
    if metric != "sisdr":
        return values
    return [None if v is None else min(v, ceiling) for v in values]


def set_comparisons(
    pairs_a: list[Any], pairs_b: list[Any], metrics: list[str], args: Any, st: Settings
) -> list[Comparison]:
    """A − B of each FAD/KAD (and per-song FAD), from one embedding per file (cached)."""
    from benchmarks.embedders import WeightsMissingError, get_embedder
    from benchmarks.metrics.cache import EmbeddingCache
    from benchmarks.metrics.sources import screen_pairs

    usable_a, bad_a = screen_pairs(pairs_a)
    usable_b, bad_b = screen_pairs(pairs_b)
    keep = [p.clip for p in usable_a if p.clip not in bad_b]  # set metrics need the same clips on both sides
    by_a, by_b = {p.clip: p for p in usable_a}, {p.clip: p for p in usable_b}
    cache = EmbeddingCache(None if args.cache_dir.lower() == "none" else args.cache_dir)
    options = {
        "fad-vggish": {"device": args.device},
        "fad-clap": {"device": args.device, "checkpoint": args.clap_checkpoint},
    }
    out: list[Comparison] = []
    built: dict[str, Any] = {}
    for m in metrics:
        key = embedder_key(m)
        try:
            if key not in built:
                built[key] = get_embedder(key, **options.get(key, {}))
        except WeightsMissingError as e:
            out.append(not_computed(m, "set", f"weights missing: {e.filename}"))
            continue
        except M2L2Error as e:
            out.append(not_computed(m, "set", f"unavailable: {str(e).splitlines()[0]}"))
            continue
        sets = _embed(
            built[key], [by_a[c] for c in keep], [by_b[c] for c in keep], cache, not args.no_progress
        )
        rows = _set_rows(m, *sets, st)
        for c in rows:
            c.skipped_a, c.skipped_b = len(bad_a), len(bad_b)
        out += rows
    return out


def _embed(embedder: Any, pairs_a: list[Any], pairs_b: list[Any], cache: Any, progress: bool) -> tuple:
    from benchmarks.metrics.set_scores import embed_sources

    ref = embed_sources(
        embedder, [p.reference for p in pairs_a], cache, progress, f"{embedder.name} reference"
    )
    a = embed_sources(embedder, [p.estimate for p in pairs_a], cache, progress, f"{embedder.name} A")
    b = embed_sources(embedder, [p.estimate for p in pairs_b], cache, progress, f"{embedder.name} B")
    return ref, a, b


def _set_rows(metric: str, ref: list, a: list, b: list, st: Settings) -> list[Comparison]:
    """The set comparison (with both set values) and, for FAD, the per-song comparison."""
    from benchmarks.metrics.frechet import embedding_stats, fad, per_clip_fad
    from benchmarks.metrics.kad import kad
    from benchmarks.metrics.paired_sets import set_difference

    is_kad = metric.startswith("kad-")
    c = set_difference(
        metric, ref, a, b, n_boot=st.n_boot if is_kad else st.fad_n_boot, seed=st.seed, level=st.level
    )
    if not c.ok:
        return [c]
    x = np.concatenate(ref)
    score = kad if is_kad else fad
    c.value_a, c.value_b = score(x, np.concatenate(a)), score(x, np.concatenate(b))
    if is_kad:
        return [c]
    stats = embedding_stats(x)
    if all(len(e) < 2 for e in a + b):
        return [c, not_computed(metric, "per-song", "every clip has fewer than two embedding frames")]
    song = paired_difference(
        per_clip_fad(stats, a), per_clip_fad(stats, b), metric, "per-song",
        n_boot=st.n_boot, n_perm=st.n_perm, seed=st.seed, level=st.level,
    )  # fmt: skip
    return [c, song]


def table_text(comparisons: list[Comparison], header: list[str]) -> str:
    """The comparisons as a plain-text table, with the conventions under it."""
    from benchmarks.rendering.comparisons import MARK_SENTENCE, p_text
    from benchmarks.rendering.table import fmt

    lines = [*header, ""]
    lines.append(
        f"{'metric':<14} {'kind':<9} {'A':>10} {'B':>10}  {'A − B [CI]':<34} {'p':<14} {'clips':<12} frames ref/A/B"
    )
    for c in comparisons:
        if not c.ok:
            lines.append(f"{c.metric:<14} {c.kind:<9} not computed ({c.reason})")
            continue
        digits = METRICS[c.metric].digits if c.metric in METRICS else 3
        a, b = (fmt(v, digits) if v is not None else "–" for v in (c.value_a, c.value_b))
        ci = f" [{fmt(c.ci[0], digits)}, {fmt(c.ci[1], digits)}]" if c.ci else ""
        clips = f"{c.n_clips}" + (
            f" ({c.skipped_a}/{c.skipped_b} skipped)" if c.skipped_a or c.skipped_b else ""
        )
        frames = "/".join(str(f) for f in c.frames) if c.frames else ""
        diff = fmt(c.difference, digits) + ci  # type: ignore[arg-type]
        lines.append(
            f"{c.metric:<14} {c.kind:<9} {a:>10} {b:>10}  {diff:<34} {p_text(c, markdown=False):<14} {clips:<12} {frames}"
        )
    timed = [c for c in comparisons if c.seconds is not None and c.resamples]
    for c in timed:
        per_k = 1000.0 * c.seconds / c.resamples  # type: ignore[operator]
        lines.append(
            f"  {c.metric}: {c.resamples} joint resamples in {c.seconds:.1f} s ({per_k:.1f} s per 1,000)"
        )
    lines += ["", MARK_SENTENCE]
    return "\n".join(lines)


def _warn_unusable(pairs_a: list[Any], pairs_b: list[Any]) -> None:
    """One `warning:` line per clip a side cannot be scored on (it is left out of that comparison)."""
    from benchmarks.metrics.sources import screen_pairs

    for side, pairs in (("A", pairs_a), ("B", pairs_b)):
        for clip, why in screen_pairs(pairs)[1].items():
            print(f"warning: skipped clip {clip} of {side}: {why}", file=sys.stderr)


def run(args) -> int:
    from benchmarks.metrics.evaluate import parse_metrics

    if args.weights_dir:
        os.environ["M2L2_WEIGHTS_DIR"] = str(Path(args.weights_dir).expanduser())
    if not 0.0 < args.ci_level < 1.0:
        raise M2L2Error(f"--ci-level must lie between 0 and 1 ({args.ci_level}): e.g. 0.95")
    metrics = parse_metrics(args.metrics)
    st = Settings(args.bootstrap, args.fad_bootstrap, max(1, args.permutations), args.ci_level, args.seed)
    pairs_a, pairs_b, unpaired = common_pairs(args.ref, args.a_dir, args.b_dir)
    for side, clips in unpaired.items():
        if clips:
            print(
                f"warning: {len(clips)} clips of {side} are not compared (e.g. {clips[0]})", file=sys.stderr
            )
    _warn_unusable(pairs_a, pairs_b)
    per_clip = [m for m in metrics if m in PER_CLIP_METRICS]
    sets = [m for m in metrics if m not in PER_CLIP_METRICS]
    comparisons = clip_comparisons(pairs_a, pairs_b, per_clip, args, st)
    comparisons += set_comparisons(pairs_a, pairs_b, sets, args, st)
    meta = {"a": str(args.a_dir), "b": str(args.b_dir), "reference": str(args.ref), "clips": len(pairs_a)}
    if args.json:
        print(json.dumps({**meta, "comparisons": [c.to_dict() for c in comparisons]}, allow_nan=False))
    else:
        header = [
            f"A: {args.a_dir}",
            f"B: {args.b_dir}",
            f"reference: {args.ref} ({len(pairs_a)} clips in all three)",
        ]
        print(table_text(comparisons, header))
    return 0
