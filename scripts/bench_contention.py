"""Decode time with one core taken by another process, against the same decode with that core free.

    python scripts/bench_contention.py [--config tiny] [--seconds 10] [--repeats 2] [--rounds 2] [--policies ...]
                                       [--json F]

Each policy runs in a fresh interpreter (OpenMP reads its wait policy when torch loads): it builds the
configuration with random weights (seed 0), encodes `--seconds` of noise and times the autoregressive decode
(best of `--repeats` after a warm-up). "busy": a process spinning at normal priority, pinned to CPU 0 with
os.sched_setaffinity, runs during the timing; "idle": it does not (other processes on the machine still run:
the load average is printed beside every time). The target is busy ≤ 1.5 × idle.

Policies:
  default        what `m2l2` does: import m2l2 first (passive OpenMP waits), `m2l2.threads.apply()`
  forced-2       torch loaded first (spinning waits, torch's default), torch.set_num_threads(2)
  one-thread     torch loaded first (spinning waits), 1 thread
  spin-loadavg   torch loaded first (spinning waits), `m2l2.threads.apply()`: CPUs less the load average
  passive-1      import m2l2 first (passive waits), 1 thread
  eigh-blas-1    not a decode: NumPy `eigh` of a 200×200 covariance (one FAD with MusiCNN), best of 20, on
                 1 OpenBLAS thread
  eigh-blas-2    the same on 2 OpenBLAS threads (NumPy's default on 2 CPUs), OpenBLAS's default spinning
  eigh-blas-2-short-spin  the same with OPENBLAS_THREAD_TIMEOUT=4 (what importing m2l2 first sets)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

POLICIES = ("default", "forced-2", "one-thread", "spin-loadavg", "passive-1", "eigh-blas-1", "eigh-blas-2",
            "eigh-blas-2-short-spin")

CHILD = r"""
import json, sys, time
policy, config, seconds, repeats = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
if policy in ("forced-2", "one-thread", "spin-loadavg"):
    import torch  # loaded before m2l2: OpenMP keeps its default (spinning) wait policy
import m2l2
import torch
from m2l2 import threads
plan = threads.apply({"forced-2": 2, "one-thread": 1, "passive-1": 1}.get(policy))
torch.manual_seed(0)
model = m2l2.build(config)
audio = torch.randn(1, model.channels, int(seconds * model.sample_rate), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    latents = model.encode(0.1 * audio)
    model.decode(latents[:, :2], length=2 * model.chunk_samples)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.decode(latents, length=audio.shape[-1], generator=torch.Generator().manual_seed(0))
        best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds": best, "threads": torch.get_num_threads(), "plan": plan.describe()}))
"""


EIGH_CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
threads = int(sys.argv[1].split("-")[2])
x = np.random.default_rng(0).standard_normal((200, 800))
cov = x @ x.T / 800
with threadpool_limits(threads, "blas"):
    np.linalg.eigh(cov)
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        np.linalg.eigh(cov)
        best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds": best, "threads": threads, "plan": f"{threads} OpenBLAS thread(s)"}))
"""


def _spin() -> None:
    os.sched_setaffinity(0, {0})
    while True:
        pass


def time_policy(policy: str, args: argparse.Namespace) -> dict:
    """One fresh interpreter timing one decode under `policy` (environment without thread overrides)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "M2L2_THREADS", "MKL_NUM_THREADS")}
    load = os.getloadavg()[0]
    code = EIGH_CHILD if policy.startswith("eigh-") else CHILD
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    if policy.endswith("short-spin"):
        env["OPENBLAS_THREAD_TIMEOUT"] = "4"
    cmd = [sys.executable, "-c", code, policy, args.config, str(args.seconds), str(args.repeats)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        return {"policy": policy, "error": done.stderr.strip().splitlines()[-1:], "load": load}
    return {"policy": policy, **json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def _with_spinner(busy: bool, fn):
    spinner = None
    if busy:
        spinner = multiprocessing.get_context("fork").Process(target=_spin, daemon=True)
        spinner.start()
        time.sleep(1.0)
    try:
        return fn()
    finally:
        if spinner is not None:
            spinner.terminate()
            spinner.join()


def measure(args: argparse.Namespace) -> list[dict]:
    """`--rounds` rounds of (idle, busy) × policies, interleaved so that slow drifts in the machine's other
    load hit every cell alike."""
    rows = []
    for round_ in range(args.rounds):
        for condition in ("idle", "busy"):
            def run_all(condition=condition, round_=round_):
                for policy in args.policies:
                    row = {"round": round_, "condition": condition, **time_policy(policy, args)}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)

            _with_spinner(condition == "busy", run_all)
    return rows


def report(rows: list[dict], seconds: float) -> None:
    """Median over rounds of each (policy, condition); the ratio of the medians."""
    def cell(policy, condition, key):
        values = [r[key] for r in rows if r["policy"] == policy and r["condition"] == condition and key in r]
        return statistics.median(values) if values else None

    print(f"decode of {seconds:g} s (eigh-*: one 200x200 eigh), one core busy (spinner pinned to CPU 0) "
          f"against idle, median of {max(r['round'] for r in rows) + 1} round(s); target busy <= 1.5x idle")
    print(f"{'policy':14s} {'threads':>7s} {'idle s':>8s} {'busy s':>8s} {'busy/idle':>9s} {'load idle/busy':>15s}")
    for policy in dict.fromkeys(r["policy"] for r in rows):
        idle, busy = cell(policy, "idle", "seconds"), cell(policy, "busy", "seconds")
        if idle is None or busy is None:
            errors = [r["error"] for r in rows if r["policy"] == policy and "error" in r]
            print(f"{policy:14s} failed: {errors[:1]}")
            continue
        threads = int(cell(policy, "busy", "threads"))
        load = f"{cell(policy, 'idle', 'load'):.1f}/{cell(policy, 'busy', 'load'):.1f}"
        print(f"{policy:14s} {threads:7d} {idle:8.4f} {busy:8.4f} {busy / idle:9.2f} {load:>15s}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="tiny")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the median is reported")
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per timed interpreter")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        print("needs at least 2 usable CPUs (one is made busy)", file=sys.stderr)
        return 2
    rows = measure(args)
    report(rows, args.seconds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
