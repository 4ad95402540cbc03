"""m2l2.threads: one decision for torch, BLAS and pool threads, from the CPUs a process may use."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
import torch

from m2l2 import threads
from m2l2.errors import M2L2Error


def _cgroup_v2(tmp: Path, quotas: dict[str, str]) -> tuple[Path, Path]:
    """A fake cgroup v2 tree (folder → cpu.max text) and a /proc/self/cgroup naming its deepest folder."""
    for rel, text in quotas.items():
        (tmp / rel).mkdir(parents=True, exist_ok=True)
        (tmp / rel / "cpu.max").write_text(text + "\n")
    proc = tmp / "proc-cgroup"
    proc.write_text(f"0::/{max(quotas, key=len)}\n")
    return tmp, proc


def test_cgroup_v2_quota_is_the_tightest_along_the_path(tmp_path):
    root, proc = _cgroup_v2(tmp_path, {"": "max 100000", "a": "150000 100000", "a/b": "max 100000"})
    assert threads.cpu_quota(root, proc) == pytest.approx(1.5)
    root, proc = _cgroup_v2(tmp_path / "2", {"": "max 100000", "a": "300000 100000", "a/b": "50000 100000"})
    assert threads.cpu_quota(root, proc) == pytest.approx(0.5)
    root, proc = _cgroup_v2(tmp_path / "3", {"": "max 100000", "x": "max 100000"})
    assert threads.cpu_quota(root, proc) is None


def test_cgroup_v1_quota_and_no_cgroup_at_all(tmp_path):
    cpu = tmp_path / "cpu,cpuacct" / "job"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("250000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("5:memory:/job\n4:cpu,cpuacct:/job\n")
    assert threads.cpu_quota(tmp_path, proc) == pytest.approx(2.5)
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cpu_quota(tmp_path, proc) is None
    assert threads.cpu_quota(tmp_path / "absent", tmp_path / "absent-proc") is None


def test_usable_cpus_are_the_affinity_mask_capped_by_the_quota(tmp_path):
    mask = len(os.sched_getaffinity(0))
    root, proc = _cgroup_v2(tmp_path, {"": "max 100000"})
    assert threads.available_cpus(root, proc) == mask
    root, proc = _cgroup_v2(tmp_path / "q", {"": "max 100000", "q": "150000 100000"})
    assert threads.available_cpus(root, proc) == 1  # 1.5 CPUs: rounded down, two threads would be throttled
    root, proc = _cgroup_v2(tmp_path / "s", {"": "max 100000", "s": "10000 100000"})
    assert threads.available_cpus(root, proc) == 1  # never 0


def test_plan_precedence_option_then_env_then_cpus():
    env = {"M2L2_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert threads.plan(2, env, cpus=8, spinning=False).threads == 2
    assert threads.plan(None, env, cpus=8, spinning=False).threads == 3
    assert threads.plan(None, {"OMP_NUM_THREADS": "5"}, cpus=8, spinning=False).threads == 5
    auto = threads.plan(None, {}, cpus=8, spinning=False, load=7.0)
    assert (auto.threads, auto.reason) == (8, "usable CPUs")  # passive waits: the load does not matter


def test_plan_leaves_out_loaded_cpus_only_where_waits_spin():
    assert threads.plan(None, {}, cpus=4, spinning=True, load=1.2).threads == 3
    assert threads.plan(None, {}, cpus=4, spinning=True, load=9.0).threads == 1
    assert threads.plan(None, {}, cpus=4, spinning=True, load=0.0).threads == 4
    assert threads.plan(None, {}, cpus=1, spinning=True, load=3.0).threads == 1


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_thread_counts_are_one_line_errors(bad):
    with pytest.raises(M2L2Error, match=r"thread count must be a whole number >= 1.*M2L2_THREADS"):
        threads.plan(None, {"M2L2_THREADS": bad}, cpus=2)
    with pytest.raises(M2L2Error, match="--threads"):
        threads.plan(0, {}, cpus=2)


def test_passive_wait_is_requested_only_before_torch_loads_and_never_over_the_users_choice(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert threads._prefer_passive_wait() == ""  # torch is loaded in this process: too late, left alone
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")
    assert threads._prefer_passive_wait() == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    assert threads._prefer_passive_wait() == "ACTIVE"


def test_importing_m2l2_first_makes_torchs_openmp_wait_passively():
    code = ("import os, sys; import m2l2; from m2l2 import threads; "
            "print(os.environ.get('OMP_WAIT_POLICY'), threads.spin_waiting())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "False"]  # torch loaded first: the unit test above


def test_apply_sets_torch_and_blas_threads(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = torch.get_num_threads()

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}

    try:
        chosen = threads.apply(2)  # asked for: torch and BLAS alike
        assert torch.get_num_threads() == 2 and blas_threads() == {2} and threads.pool_workers() == 2
        assert threads.current() == chosen and os.environ["OPENBLAS_NUM_THREADS"] == "2"  # read by later loads
        for name in ("M2L2_THREADS", "OMP_NUM_THREADS"):
            monkeypatch.delenv(name, raising=False)
        chosen = threads.apply()  # chosen here: torch on the usable CPUs, spinning BLAS on one thread
        assert torch.get_num_threads() == chosen.threads and not chosen.explicit and chosen.blas_threads == 1
        assert blas_threads() == {1}
        if "numba" not in sys.modules:  # a loaded numba is limited through its API: test below
            assert os.environ["NUMBA_NUM_THREADS"] == "1"
    finally:
        threads.apply(before)


NUMBA_AFTER_APPLY = """
import numba, numpy as np
from m2l2 import threads

@numba.njit(parallel=True)
def total(x):
    s = 0.0
    for i in numba.prange(x.shape[0]):
        s += x[i]
    return s

threads.apply(1)
print(total(np.ones(64)), numba.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
"""


def test_numba_loaded_before_apply_still_compiles():
    """numba rereads its environment before each compilation and refuses a changed NUMBA_NUM_THREADS once its
    threads have started (the ViSQOL metric failed so): apply() limits a loaded numba through its API."""
    pytest.importorskip("numba")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "PYTHONPATH": str(Path(__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", NUMBA_AFTER_APPLY], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-800:]
    assert out.stdout.split() == ["64.0", "1", "2"]


def test_pool_workers_follow_the_plan_and_the_job_count():
    assert threads.pool_workers(3, jobs=10) == 3
    spinning = threads.plan(None, {}, cpus=4, spinning=True, load=3.0)
    assert (spinning.threads, spinning.pool_size) == (1, 4)  # one thread per worker: waits do not matter
    assert threads.plan(2, {}, cpus=4).pool_size == 2  # asked for: obeyed
    assert threads.pool_workers(3, jobs=2) == 2
    assert threads.pool_workers(None, jobs=0) == 1


def _worker_threads() -> tuple[int, str]:
    return torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY", "")


def test_pool_initialiser_gives_each_worker_one_thread():
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=threads.worker_init) as pool:
        assert pool.submit(_worker_threads).result(timeout=120)[0] == 1


def test_cli_takes_threads_before_and_after_the_command():
    from m2l2.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--threads", "3", "info", "tiny"]).threads == 3
    assert parser.parse_args(["info", "tiny", "--threads", "2"]).threads == 2
    assert parser.parse_args(["info", "tiny"]).threads is None
    assert parser.parse_args(["results", "export", "--threads", "1"]).threads == 1  # nested sub-commands too
