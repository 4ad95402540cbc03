"""Build the offline default suite part by part: fetch sources, run jobs (resumable, in worker processes),
write metadata + manifest.

Jobs run in worker processes (default 2). A job's output depends only on the job itself (a fresh synth
per job, seeds per job), and results are put back in job order, so the suite is byte-identical whatever the
number of workers. Jobs are ordered by their `group` (e.g. soundfont) so a worker keeps reusing what it loaded.
"""

from __future__ import annotations

import csv
import importlib
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmarks.datasets.suite import PARTS, TRAINING_PARTS
from benchmarks.suite.manifest import Journal, read_manifest, verify, write_manifest
from benchmarks.suite.sources import Fetched, fetch
from m2l2.audio import save_audio
from m2l2.errors import M2L2Error
from m2l2.io import atomic_path, sha256_file

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One resumable unit of work; `run()` writes files under the suite root and returns (files, rows).
    `group` names what the job loads (a soundfont): jobs of a group run back to back in a worker."""

    key: str
    run: Callable[[], tuple[list[str], list[dict[str, Any]]]]
    group: str = ""


def default_workers() -> int:
    """$M2L2_WORKERS, else the thread count of `m2l2.threads` (--threads, $M2L2_THREADS, usable CPUs), at most 2."""
    from m2l2.threads import pool_workers

    env = os.environ.get("M2L2_WORKERS")
    return max(1, int(env)) if env else min(2, pool_workers())


@dataclass
class Context:
    root: Path
    small: bool
    sources: dict[str, Fetched] = field(default_factory=dict)

    def sources_table(self, *extra_rows: str) -> list[str]:
        """Markdown rows naming every Debian package used (version, licence, attribution), for a part's card."""
        return [
            "| source | version | licence | attribution |",
            "|---|---|---|---|",
            *(
                f"| {pkg} | {f.version} | {f.source.licence} | {f.source.attribution} |"
                for pkg, f in self.sources.items()
            ),
            *extra_rows,
        ]

    def write_audio(self, rel: str, audio, sample_rate: int) -> str:
        """Write 16-bit FLAC (deterministic bytes for the same samples); returns the relative path."""
        save_audio(self.root / rel, audio, sample_rate)
        return rel


_WORKER_JOBS: dict[tuple[str, str, bool], list[Job]] = {}  # a worker's job lists, rebuilt from the recipe


def _worker_run(task: tuple) -> tuple[int, list[str], list[dict[str, Any]]]:
    """Run job `index` of a part in a worker process: the worker lists the part's jobs itself (cheap and
    deterministic), so only names and indices cross the process boundary."""
    part, root, small, sources, index = task
    key = (part, root, small)
    if key not in _WORKER_JOBS:
        _WORKER_JOBS[key] = part_module(part).jobs(Context(Path(root), small, dict(sources)))
    files, rows = _WORKER_JOBS[key][index].run()
    return index, files, rows


def _run_jobs(part: str, ctx: Context, jobs: list[Job], todo: list[int], pool):
    """Yield (index, files, rows) for the jobs in `todo`, in completion order; jobs of a group back to back."""
    order = sorted(todo, key=lambda i: jobs[i].group)
    bar = tqdm(total=len(order), desc=f"[{part}]", unit="job", file=sys.stdout, mininterval=2.0)
    if pool is None or len(order) <= 1:
        for i in order:
            files, rows = jobs[i].run()
            yield i, files, rows
            bar.update()
    else:
        tasks = [(part, str(ctx.root), ctx.small, ctx.sources, i) for i in order]
        for result in pool.imap_unordered(_worker_run, tasks, chunksize=1):
            yield result
            bar.update()
    bar.close()


def make_pool(workers: int):
    """A pool of fresh ("spawn") worker processes, or None for in-process work. Not "fork": a forked child of a
    process that has started OpenMP threads (torch does) can deadlock inside FluidSynth's sample loading."""
    if workers <= 1:
        return None
    from m2l2.threads import worker_init

    return multiprocessing.get_context("spawn").Pool(workers, initializer=worker_init)  # one thread per worker


def part_module(part: str):
    if part not in PARTS + TRAINING_PARTS:
        raise M2L2Error(
            f"unknown suite part {part!r} (--parts, build_suite): use one of "
            f"{', '.join(PARTS + TRAINING_PARTS)}"
        )
    return importlib.import_module(f"benchmarks.suite.part_{part.replace('-', '_')}")


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("numpy", "soundfile", "soxr", "av", "pyfluidsynth", "music21"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _tool_versions() -> dict[str, str]:
    import subprocess

    out = {}
    for tool, args in (("fluidsynth", ["--version"]), ("mma", ["-v"])):
        if shutil.which(tool):
            r = subprocess.run([tool, *args], capture_output=True, text=True)
            lines = [ln for ln in (r.stdout + r.stderr).splitlines() if any(c.isdigit() for c in ln)]
            out[tool] = lines[0].strip() if lines else "unknown"
    return out


def _write_metadata(root: Path, part: str, rows: list[dict[str, Any]], columns: list[str]) -> str:
    rel = f"{part}/metadata.csv"
    with atomic_path(root / rel) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ";".join(v) if isinstance(v, list | tuple) else v for k, v in r.items()})
    return rel


def build_part(
    root: Path, part: str, small: bool, manifest: dict[str, Any], get_pool: Callable[[], Any] = lambda: None
) -> dict[str, Any]:
    """Build one part (skipped when its manifest entry matches the recipe and every file verifies);
    `get_pool` gives the worker pool (made on first use), None for in-process work."""
    mod = part_module(part)
    config = {"recipe": mod.RECIPE_VERSION, "small": small}
    previous = manifest["parts"].get(part)
    if previous and previous.get("config") == config and not verify(root, [part]):
        log.info("[%s] up to date (%d clips), skipping", part, previous["count"])
        return previous
    t0 = time.time()
    ctx = Context(root, small)
    for pkg in mod.packages(small):
        log.info("[%s] fetching %s", part, pkg)
        ctx.sources[pkg] = fetch(pkg)
    journal = Journal.open(root)
    jobs = mod.jobs(ctx)
    prefix = f"{part}:{'small' if small else 'full'}:{mod.RECIPE_VERSION}:"
    entries = [journal.finished(prefix + job.key) for job in jobs]
    todo = [i for i, e in enumerate(entries) if e is None]
    if len(todo) < len(jobs):
        log.info("[%s] %d of %d jobs already done (resuming)", part, len(jobs) - len(todo), len(jobs))
    pool = get_pool() if len(todo) > 1 else None
    for i, job_files, job_rows in _run_jobs(part, ctx, jobs, todo, pool):
        entries[i] = journal.record(prefix + jobs[i].key, job_files, job_rows)
    files: list[str] = []
    rows: list[dict[str, Any]] = []
    for entry in entries:  # job order, whatever order they finished in
        files += list(entry["files"])
        rows += entry["rows"]
    keep = set(files)
    for p in sorted((root / part).rglob("*")):  # outputs of an earlier recipe or size
        if p.is_file() and p.relative_to(root).as_posix() not in keep:
            p.unlink()
    files.append(_write_metadata(root, part, rows, mod.COLUMNS))
    if hasattr(mod, "extra_files"):  # e.g. the tags part's vocabulary
        files += mod.extra_files(rows, ctx)
    card = root / part / "README.md"
    card.write_text(mod.card(rows, ctx), encoding="utf-8")
    files.append(f"{part}/README.md")
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith(part + "/")}
    manifest["files"].update({rel: sha256_file(root / rel) for rel in files})
    info = {
        "config": config,
        "count": len(rows),
        "build_seconds": round(time.time() - t0, 1),
        "workers": pool._processes if pool is not None else 1,
        "sources": {
            pkg: {
                "version": f.version,
                "deb_sha256": f.sha256,
                "licence": f.source.licence,
                "attribution": f.source.attribution,
            }
            for pkg, f in ctx.sources.items()
        },
        "generated_licence": getattr(mod, "LICENCE_NOTE", ""),
    }
    manifest["parts"][part] = info
    log.info("[%s] %d clips in %s s", part, len(rows), info["build_seconds"])
    return info


def build(
    root: Path, parts: list[str] | None = None, small: bool = False, workers: int | None = None
) -> dict[str, Any]:
    """Build (or resume, or skip when up to date) the requested parts; returns the manifest. `workers`
    defaults to default_workers() for the full suite and 1 for a small one (starting workers costs more than
    a few clips)."""
    parts = list(parts or PARTS)
    workers = (1 if small else default_workers()) if workers is None else max(1, workers)
    for p in parts:
        part_module(p)  # fail early on unknown names / missing imports
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(root)
    pools: list = []  # one pool for all parts, made when first needed: workers keep their loaded soundfonts

    def get_pool():
        if not pools:
            pools.append(make_pool(workers))
        return pools[0]

    try:
        for part in parts:
            build_part(root, part, small, manifest, get_pool)
            manifest["packages"] = _package_versions()
            manifest["tools"] = _tool_versions()
            write_manifest(root, manifest)
    finally:
        if pools and pools[0] is not None:
            pools[0].terminate()
    return manifest
