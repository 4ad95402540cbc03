"""`m2l2 tables`: run the paper's experiments from a YAML configuration and render the tables and figures.

Steps: parse the configuration; under torchrun, split Table II's clips over the ranks; run each wanted
experiment of the registry (`benchmarks.experiments`), which renders what it wrote; print a summary.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.experiments import EXPERIMENTS, NAMES
from benchmarks.stage_times import StageTimes
from m2l2.errors import M2L2Error


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"shard {text}: need 0 <= i < n")
    return i, n


def _only(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown experiment(s) {bad or text!r}; choose from {', '.join(NAMES)}"
        )
    return names


def register(subparsers) -> None:
    made = ", ".join(e.makes for e in EXPERIMENTS)
    p = subparsers.add_parser(
        "tables",
        help="run the benchmark experiments (Tables I-III, Fig. 3, seams, speed) and render results/",
        description=f"Run the experiments of a YAML configuration ({made}); render Markdown/LaTeX/CSV tables "
        "beside the paper's published numbers and figures as PNG/PDF. Resumable: rerunning recomputes only "
        "what changed. Ends with a summary of what was computed, skipped and why.",
    )
    p.add_argument(
        "--config",
        default=None,
        help="YAML file or shipped name ('default': offline suite, 'paper': MusicCaps); default: default",
    )
    p.add_argument(
        "--shard",
        type=_shard,
        default=None,
        help="i/n: Table II only, every n-th clip starting at i (array jobs); a later run without "
        "--shard merges. Under torchrun (WORLD_SIZE > 1) each rank takes its shard of Table II, "
        "then rank 0 merges and runs the rest",
    )
    p.add_argument(
        "--only",
        type=_only,
        action="append",
        default=None,
        help=f"comma-separated experiments to run ({', '.join(NAMES)}); repeatable; default: all",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--render-only", action="store_true", help="re-render tables and figures from existing results"
    )
    p.set_defaults(func=_cmd_tables)
    _register_results(subparsers)
    _register_report(subparsers)


def _register_report(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="a static listening page of the Table II results (results/report/<config>/index.html)",
        description="Per model: the Table II numbers and, for its best, median and worst clips by SI-SDR and "
        "per-song FAD, the original and the reconstruction as Opus excerpts with spectrograms; the Fig. 3 plot. "
        "Needs the results of `m2l2 tables`; reconstructions come from its cache (made again when absent).",
    )
    p.add_argument("--config", default=None, help="YAML file or shipped name; default: default")
    p.add_argument("--out", default=None, help="folder of the page; default: <output_dir>/report/<config>")
    p.add_argument(
        "--check",
        action="store_true",
        help="load the page in headless Chromium, fail on any missing audio or image, save screenshot.png",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_report)


def _register_results(subparsers) -> None:
    p = subparsers.add_parser(
        "results",
        help="the results of `m2l2 tables` as one tidy table (CSV/Parquet)",
        description="Every result of a configuration, one row per (experiment, model, clip or point, metric) "
        "with provenance columns, as read by benchmarks.results.load.",
    )
    sub = p.add_subparsers(dest="results_command", metavar="ACTION", required=True)
    e = sub.add_parser("export", help="write the tidy table as CSV or Parquet")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv", help="default: csv")
    e.add_argument("--config", default=None, help="YAML file or shipped name; default: default")
    e.add_argument(
        "--out", default=None, help="output file; default: <output_dir>/tables/results_<config>.<format>"
    )
    e.set_defaults(func=_cmd_results_export)


def torchrun_shard() -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) when started by torchrun with more than one process, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def _render_only(cfg: Any, wanted: list[str]) -> None:
    from benchmarks.experiments import get, render_result

    for name in wanted:
        try:
            for path in render_result(name, get(name).result_file(cfg)):
                print(path)
        except M2L2Error as e:
            print(f"{name}: {e}")


def _shardable_on_every_rank(cfg: Any, wanted: list[str], shard: tuple[int, int], progress: bool) -> None:
    """Each torchrun rank runs its shard of the shardable experiments; all wait until every shard is written."""
    import datetime

    import torch.distributed as dist

    from benchmarks.experiments import RunOptions, get, run_experiment

    dist.init_process_group("gloo", timeout=datetime.timedelta(days=2))  # shards can take hours
    try:
        for name in wanted:
            if get(name).shardable:
                run_experiment(name, cfg, RunOptions(progress=progress and shard[0] == 0, shard=shard))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _outcome(summary: Any) -> str:
    if summary.tables:
        done = "computed" if summary.computed else "up to date (everything reused)"
        return f"{done}: {len(summary.tables)} files written"
    why = [*summary.notes, *(f"{k}: {v}" for k, v in summary.skipped_models.items())]
    return "; ".join(why) or "nothing rendered"


def _cmd_tables(args) -> int:
    from benchmarks.config import load_config
    from benchmarks.experiments import RunOptions, get, run_experiment

    cfg = load_config(args.config)
    wanted = [n for n in NAMES if any(n in group for group in args.only)] if args.only else list(NAMES)
    if args.render_only:
        _render_only(cfg, wanted)
        return 0
    progress = not args.no_progress
    shard = args.shard or (0, 1)
    ranks = torchrun_shard() if args.shard is None else None
    if ranks is not None and any(get(n).shardable for n in wanted):
        _shardable_on_every_rank(cfg, wanted, ranks, progress)
        if ranks[0] != 0:
            return 0  # rank 0 merges the shards and runs the other experiments
    elif ranks is not None and ranks[0] != 0:
        return 0  # nothing to split: rank 0 alone runs the experiments
    if shard[1] > 1:
        wanted = [
            n for n in NAMES if get(n).shardable
        ]  # shards split only these (Table II), nothing else runs
    outcome: dict[str, str] = {}
    seconds: dict[str, float] = {}
    t0 = time.time()
    times = StageTimes()
    if cfg.dataset.name.startswith("suite-") and cfg.dataset.build_suite:
        from benchmarks.suite import ensure_built

        print("== suite ==", flush=True)
        root = Path(cfg.dataset.root).expanduser() if cfg.dataset.root else None
        with times.stage("suite"):
            ensure_built(root, parts=list(cfg.dataset.build_suite))
        seconds["suite"] = time.time() - t0
        outcome["suite"] = f"parts {', '.join(cfg.dataset.build_suite)} ready"
    # one unsharded run per cache at a time (shards and torchrun ranks share it by design)
    with store.cache_lock(cfg.cache_dir, enabled=shard[1] == 1 and ranks is None):
        for name in wanted:
            print(f"== {name} ==", flush=True)
            started = time.time()
            try:
                with times.stage(name):
                    summary = run_experiment(name, cfg, RunOptions(progress=progress, shard=shard))
            except M2L2Error as e:
                outcome[name] = f"failed: {str(e).splitlines()[0]}"
                print(outcome[name], flush=True)
                continue
            finally:
                seconds[name] = time.time() - started
            print(summary.text(), flush=True)
            outcome[name] = _outcome(summary)
    print(f"\n== m2l2 tables: summary ({time.time() - t0:.1f} s, config '{cfg.name}') ==")
    for name, what in outcome.items():
        print(f"  {name:7s} {seconds.get(name, 0.0):8.1f} s  {what}")
    print(times.table(), file=sys.stderr, flush=True)
    if any(w.startswith("failed") for w in outcome.values()):
        return 1
    if wanted == ["table2"] and shard[1] == 1 and "files written" not in outcome.get("table2", ""):
        raise M2L2Error(
            f"no table was written, {outcome.get('table2', 'Table II did not run')} ({cfg.where}: table2): "
            "fix what the run reported above and run it again"
        )
    return 0


def _cmd_report(args) -> int:
    from pathlib import Path

    from benchmarks.config import load_config
    from benchmarks.report import build_report, check_page

    cfg = load_config(args.config)
    summary = build_report(cfg, Path(args.out) if args.out else None, progress=not args.no_progress)
    print(summary.text())
    if not args.check:
        return 0
    check = check_page(summary.path, summary.path.parent / "screenshot.png")
    print(f"Chromium: {check.audio} audio players, {check.images} images, screenshot {check.screenshot}")
    for failure in check.failures:
        print(f"  {failure}")
    return 0 if check.ok else 1


def _cmd_results_export(args) -> int:
    from pathlib import Path

    from benchmarks import results, store
    from benchmarks.config import load_config

    cfg = load_config(args.config)
    df = results.load(cfg)
    out = args.out or Path(cfg.output_dir) / "tables" / f"results_{store.slug(cfg.name)}.{args.format}"
    path = results.export(df, out, args.format)
    print(f"{path}: {len(df)} rows, {df['experiment'].nunique()} experiments")
    return 0
