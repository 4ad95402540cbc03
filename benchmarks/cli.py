"""`m2l2 tables`: run the paper's experiments from a YAML configuration and render the tables and figures."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from m2l2.errors import M2L2Error

# In the order they run: Table II first (Table I reuses its reconstructions).
TABLES = ("table2", "table1", "fig3", "seams", "table3", "speed")


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
    bad = [n for n in names if n not in TABLES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown experiment(s) {bad or text!r}; choose from {', '.join(TABLES)}")
    return names


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tables", help="run the benchmark experiments (Tables I-III, Fig. 3, seams, speed) and render results/",
        description="Run the experiments of a YAML configuration: Table II (reconstruction), Table I (summary vs "
        "ordered latents), Fig. 3 (FAD vs sigma_cond), chunk seams, Table III (probing) and speed; render "
        "Markdown/LaTeX/CSV tables beside the paper's published numbers and figures as PNG/PDF. Resumable: "
        "rerunning recomputes only what changed. Ends with a summary of what was computed, skipped and why.",
    )
    p.add_argument("--config", default=None,
                   help="YAML file or shipped name ('default': offline suite, 'paper': MusicCaps); default: default")
    p.add_argument("--shard", type=_shard, default=None,
                   help="i/n: Table II only, every n-th clip starting at i (array jobs); a later run without "
                   "--shard merges. Under torchrun (WORLD_SIZE > 1) each rank takes its shard of Table II, "
                   "then rank 0 merges and runs the rest")
    p.add_argument("--only", type=_only, action="append", default=None,
                   help=f"comma-separated experiments to run ({', '.join(TABLES)}); repeatable; default: all")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--render-only", action="store_true", help="re-render tables and figures from existing results")
    p.set_defaults(func=_cmd_tables)


def _table3(cfg: Any, progress: bool = True) -> Any:
    from benchmarks.probing import run_table3

    return run_table3(cfg, progress=progress)


def _runners() -> dict[str, Callable[..., Any]]:
    from benchmarks.ablation import run_table1
    from benchmarks.pipeline import run
    from benchmarks.seams import run_seams
    from benchmarks.sigma_sweep import run_fig3
    from benchmarks.speed_table import run_speed_table

    return {"table2": run, "table1": run_table1, "fig3": run_fig3, "seams": run_seams, "table3": _table3,
            "speed": run_speed_table}


def _render_only(cfg: Any, wanted: list[str]) -> None:
    from pathlib import Path

    from benchmarks import render
    from benchmarks.figures import plot_fig3
    from benchmarks.pipeline import _slug, result_path

    out = Path(cfg.output_dir).expanduser()
    tables = out / "tables"
    jobs = {
        "table2": lambda: render.render_table2(result_path(cfg), tables),
        "table1": lambda: render.render_table1(out / "table1" / f"{_slug(cfg.name)}.json", tables),
        "fig3": lambda: render.render_fig3(out / "fig3" / f"{_slug(cfg.name)}.json", tables)
        + plot_fig3(out / "fig3" / f"{_slug(cfg.name)}.json", out / "figures"),
        "seams": lambda: render.render_seams(out / "seams" / f"{_slug(cfg.name)}.json", tables),
        "speed": lambda: render.render_speed(out / "speed" / f"{_slug(cfg.name)}.json", tables),
        "table3": lambda: render.render_table3(out / "table3" / f"{_slug(cfg.name)}.json", tables),
    }
    for name in wanted:
        if name not in jobs:
            print(f"{name}: --render-only not supported here")
            continue
        try:
            for path in jobs[name]():
                print(path)
        except M2L2Error as e:
            print(f"{name}: {e}")


def torchrun_shard() -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) when started by torchrun with more than one process, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def _table2_on_every_rank(cfg: Any, shard: tuple[int, int], progress: bool) -> None:
    """Each torchrun rank scores its shard of Table II's clips; all wait until every shard is written."""
    import datetime

    import torch.distributed as dist

    from benchmarks.pipeline import run

    dist.init_process_group("gloo", timeout=datetime.timedelta(days=2))  # shards can take hours
    try:
        run(cfg, shard=shard, progress=progress and shard[0] == 0)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _cmd_tables(args) -> int:
    from benchmarks.pipeline import load_config

    cfg = load_config(args.config)
    wanted = [t for t in TABLES if any(t in group for group in args.only)] if args.only else list(TABLES)
    if args.render_only:
        _render_only(cfg, wanted)
        return 0
    progress = not args.no_progress
    shard = args.shard or (0, 1)
    ranks = torchrun_shard() if args.shard is None else None
    if ranks is not None and "table2" in wanted:
        _table2_on_every_rank(cfg, ranks, progress)
        if ranks[0] != 0:
            return 0  # rank 0 merges the shards and runs the other experiments
    elif ranks is not None and ranks[0] != 0:
        return 0  # nothing to split: rank 0 alone runs the experiments
    if shard[1] > 1:
        wanted = ["table2"]  # shards only split Table II's clips; the other experiments run unsharded
    runners = _runners()
    outcome: dict[str, str] = {}
    t0 = time.time()
    for name in wanted:
        print(f"== {name} ==", flush=True)
        try:
            if name == "table2":
                summary = runners[name](cfg, shard=shard, progress=progress)
            else:
                summary = runners[name](cfg, progress=progress)
        except M2L2Error as e:
            outcome[name] = f"failed: {str(e).splitlines()[0]}"
            print(outcome[name], flush=True)
            continue
        text = summary.text() if hasattr(summary, "text") else str(summary)
        print(text, flush=True)
        tables = getattr(summary, "tables", None)
        if tables:
            done = sum(v for k, v in vars(summary).items()
                       if (k == "reconstructed" or k.endswith("_computed")) and isinstance(v, int))
            outcome[name] = f"{'computed' if done else 'up to date (everything reused)'}: {len(tables)} files written"
        else:
            why = [*(getattr(summary, "notes", None) or []),
                   *(f"{k}: {v}" for k, v in (getattr(summary, "skipped_models", None) or {}).items())]
            outcome[name] = "; ".join(why) or "nothing rendered"
    print(f"\n== m2l2 tables: summary ({time.time() - t0:.1f} s, config '{cfg.name}') ==")
    for name, what in outcome.items():
        print(f"  {name:7s} {what}")
    if any(w.startswith("failed") for w in outcome.values()):
        return 1
    if wanted == ["table2"] and shard[1] == 1 and "files written" not in outcome.get("table2", ""):
        raise M2L2Error(f"no table was written: {outcome.get('table2', 'Table II did not run')}")
    return 0
