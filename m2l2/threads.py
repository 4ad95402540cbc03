"""How many threads torch, BLAS/OpenMP and process pools use: one decision, from the CPUs this process may use.

Why it matters: torch's OpenMP threads spin-wait at the end of every parallel region. With one of two cores
taken by another process, the thread sharing that core runs in scheduler time slices and every region waits
for it: decoding 10 s with the `tiny` configuration took 28 s instead of 0.94 s with one core busy
(`scripts/bench_contention.py`, docs/performance.md). Two things fix it, both set here:

- the wait policy: importing `m2l2` sets `OMP_WAIT_POLICY=PASSIVE` before torch loads its OpenMP runtime
  (unless the user set a policy), so waiting threads sleep and a woken thread takes its core back at once;
- the thread count: the CPUs of the affinity mask, capped by the cgroup CPU quota, unless `--threads`,
  `M2L2_THREADS` or `OMP_NUM_THREADS` says otherwise. Where torch was loaded first with the spinning policy,
  cores the 1-min load average says are busy are left out. NumPy/SciPy's OpenBLAS and numba spin too and
  cannot be told to sleep: they get one thread unless a count is asked for (`ThreadPlan.blas_threads`).

Process pools run one thread per worker (`worker_init` is their initialiser) and as many workers as threads.
This module imports nothing heavy at import time: `m2l2/__init__.py` imports it before torch.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV = "M2L2_THREADS"
WAIT_POLICY = "OMP_WAIT_POLICY"
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Read by libraries that load later. Not MKL_NUM_THREADS: torch's MKL follows torch.set_num_threads, and a child
# process's torch would take it as its default.
_LIBRARY_ENV = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _prefer_passive_wait() -> str:
    """Ask OpenMP for sleeping waits when torch is not loaded yet and the user chose no policy; returns the
    policy torch's OpenMP runtime reads (or read) at load."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY, "PASSIVE")
    return os.environ.get(WAIT_POLICY, "").strip().upper()


_LOADED_POLICY = _prefer_passive_wait()
_APPLIED: ThreadPlan | None = None  # set by apply()


def spin_waiting() -> bool:
    """True when torch's OpenMP threads spin while they wait (its runtime loaded without PASSIVE)."""
    return _LOADED_POLICY != "PASSIVE"


@dataclass(frozen=True)
class ThreadPlan:
    """The thread count chosen for this process, and why (printed by `m2l2 speed` and the benchmark)."""

    threads: int
    reason: str
    cpus: int  # CPUs this process may use (affinity mask, cgroup quota)
    spin_waiting: bool
    explicit: bool = False  # from --threads or the environment, not chosen here

    @property
    def blas_threads(self) -> int:
        """Threads of NumPy/SciPy's BLAS (OpenBLAS, pthreads) and numba: the count asked for, else one. Their
        waits spin and no setting makes them sleep; with one core busy, a 200×200 `eigh` (a FAD) took 0.39 s
        on two threads against 0.004 s on one (docs/performance.md)."""
        return self.threads if self.explicit else 1

    @property
    def pool_size(self) -> int:
        """Workers of a process pool (one thread each, so spinning waits do not matter): the count asked
        for, else every usable CPU."""
        return self.threads if self.explicit else self.cpus

    def describe(self) -> str:
        wait = "spinning" if self.spin_waiting else "passive"
        return f"{self.threads} thread(s) ({self.reason}; {self.cpus} usable CPU(s), OpenMP wait {wait})"


def _own_cgroup_dirs(root: Path, proc_cgroup: Path) -> list[Path]:
    """This process's cgroup folder and its parents up to `root` (cgroup v2, else v1's cpu controller)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return [root]
    for line in lines:
        hier, controllers, rel = (line.split(":", 2) + ["", ""])[:3]
        if hier == "0" and controllers == "":
            base = root
        elif "cpu" in controllers.split(","):
            base = next((root / d for d in (controllers, "cpu", "cpu,cpuacct") if (root / d).is_dir()), root)
        else:
            continue
        here = base / rel.strip("/")
        return [here, *[p for p in here.parents if p.is_relative_to(base)]]
    return [root]


def _quota_of(folder: Path) -> float | None:
    """CPUs allowed by one cgroup folder: v2 `cpu.max` ("max 100000" or "150000 100000"), v1 cfs files."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or float(period) <= 0:
        return None
    return float(quota) / float(period)


def cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """The tightest cgroup CPU quota over this process's cgroup and its parents, in CPUs (None: no limit)."""
    quotas = [q for d in _own_cgroup_dirs(root, proc_cgroup) if (q := _quota_of(d)) is not None]
    return min(quotas) if quotas else None


def available_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by the cgroup quota (rounded down, at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cpu_quota(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def _positive(text: str, where: str) -> int:
    from m2l2.errors import M2L2Error

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise M2L2Error(f"thread count must be a whole number >= 1, got {text!r} ({where}): fix or unset it")
    return value


def plan(threads: int | None = None, env: Mapping[str, str] | None = None, cpus: int | None = None,
         load: float | None = None, spinning: bool | None = None) -> ThreadPlan:
    """The thread count: `threads` (--threads), else $M2L2_THREADS, else $OMP_NUM_THREADS, else the usable
    CPUs; with spinning OpenMP waits, minus the CPUs the 1-min load average says are taken (at least one)."""
    env = os.environ if env is None else env
    cpus = available_cpus() if cpus is None else cpus
    spinning = spin_waiting() if spinning is None else spinning
    if threads is not None:
        return ThreadPlan(_positive(str(threads), "--threads"), "--threads", cpus, spinning, True)
    for name in (ENV, "OMP_NUM_THREADS"):
        if env.get(name, "").strip():
            return ThreadPlan(_positive(env[name].strip(), f"${name}"), f"${name}", cpus, spinning, True)
    if spinning and cpus > 1:
        load = os.getloadavg()[0] if load is None else load
        free = max(1, min(cpus, round(cpus - load)))
        return ThreadPlan(free, f"{cpus} CPUs less the load average {load:.1f} (spinning waits)", cpus, spinning)
    return ThreadPlan(cpus, "usable CPUs", cpus, spinning)


def _limit_libraries(threads: int) -> None:
    """BLAS libraries already loaded (threadpoolctl, when installed) and those loaded later (environment);
    numba's parallel loops (ViSQOL's) likewise.

    Once numba is loaded its environment variable is left alone: numba rereads its environment before every
    compilation and refuses a changed NUMBA_NUM_THREADS once its threads have started, so a loaded numba is
    limited through `numba.set_num_threads` only."""
    numba = sys.modules.get("numba")
    for name in _LIBRARY_ENV:
        if not (name == "NUMBA_NUM_THREADS" and numba is not None):
            os.environ[name] = str(threads)
    if numba is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=threads, user_api="blas")


def apply(threads: int | None = None) -> ThreadPlan:
    """Set torch's intra-op and inter-op threads to `plan(threads)` and the BLAS threads to its
    `blas_threads`; returns the plan.

    Inter-op threads can be set once per process, before any inter-op work: later calls leave them."""
    import torch

    global _APPLIED
    chosen = _APPLIED = plan(threads)
    torch.set_num_threads(chosen.threads)
    try:
        torch.set_num_interop_threads(chosen.threads)
    except RuntimeError:
        pass  # already set, or inter-op work has started
    _limit_libraries(chosen.blas_threads)
    return chosen


def current() -> ThreadPlan:
    """The plan `apply` set last in this process (the CLI's `--threads`), else `plan()`."""
    return _APPLIED if _APPLIED is not None else plan()


def worker_init() -> None:
    """Process-pool initialiser: one thread per worker (the pool itself has as many workers as threads)."""
    apply(1)


def pool_workers(requested: int | None = None, jobs: int | None = None) -> int:
    """Worker processes of a pool: `requested`, else `current().pool_size`; never more than `jobs`."""
    workers = requested if requested else current().pool_size
    if jobs is not None:
        workers = min(workers, jobs)
    return max(1, workers)
