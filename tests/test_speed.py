"""m2l2.speed: the CPU peak-memory account sees allocations the allocator already holds."""

from __future__ import annotations

import time

import numpy as np
import torch

from m2l2.speed import measure, peak_memory

MIB = 2**20
CPU = torch.device("cpu")


def _torch_alloc(mib: int) -> float:
    x = torch.ones(mib * MIB // 4)  # touched, then freed: the allocator may keep the pages for the next call
    return float(x[-1])


def test_cpu_peak_memory_counts_a_reused_torch_allocation():
    for _ in range(3):  # the same allocation repeatedly: RSS no longer grows after the first
        _torch_alloc(64)
    with peak_memory(CPU) as peak:
        _torch_alloc(64)
    assert 64 * MIB <= peak["bytes"] < 80 * MIB


def test_cpu_peak_memory_counts_numpy_and_peaks_not_totals():
    with peak_memory(CPU) as peak:
        a = np.ones(16 * MIB // 8)
        del a
        b = np.ones(8 * MIB // 8)
        del b
    assert 16 * MIB <= peak["bytes"] < 20 * MIB  # the peak (16 MiB), not the sum of both (24 MiB)


def test_the_memory_account_keeps_stderr_clean_and_passes_other_output_through(tmp_path):
    # libkineto prints "profiler_start"/"profiler_stop" to the process's stderr at each start and stop
    import subprocess
    import sys

    code = ("import sys, torch; from m2l2.speed import peak_memory\n"
            "with peak_memory(torch.device('cpu')):\n    torch.ones(1000); print('inside', file=sys.stderr)\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert "profiler_" not in err and "inside" in err, err


def test_measure_reports_memory_of_a_known_allocation():
    rtf, mib = measure(lambda: _torch_alloc(32), seconds=1.0, device=CPU, repeats=2)
    assert rtf > 0
    assert 32 <= mib < 40


def test_rss_account_sees_native_memory_and_peak_bytes_takes_the_largest():
    # memory no Python or torch allocator hands out: an anonymous mapping, touched page by page
    import mmap

    def native(mib: int = 48) -> None:
        m = mmap.mmap(-1, mib * MIB)
        for i in range(0, mib * MIB, 4096):
            m[i] = 1
        time.sleep(0.2)  # held long enough for the 2-ms sampler to run on a loaded machine (GIL released)
        m.close()

    with peak_memory(CPU, rss=True) as grown:
        native()
    assert 40 * MIB <= grown["bytes"] < 64 * MIB
    with peak_memory(CPU) as exact:
        native()
    assert exact["bytes"] < 8 * MIB  # invisible to the allocator accounts ...
    from m2l2.speed import peak_bytes

    both = peak_bytes(native, CPU)
    assert both["bytes"] == max(both["torch_allocator"], both["python"], both["rss"]) >= 40 * MIB  # ... not here


def test_bf16_is_refused_without_native_support_and_its_error_is_measured(monkeypatch):
    import pytest

    from m2l2 import speed
    from m2l2.errors import M2L2Error

    monkeypatch.setattr(speed, "bf16_native", lambda: False)
    with pytest.raises(M2L2Error, match="native BF16"):
        speed.SpeedOptions(bf16=True).check(CPU)
    speed.SpeedOptions(channels_last=True).check(CPU)  # always allowed
    err = speed.bf16_error("tiny", 0.2, CPU)  # bf16 keeps ~3 significant digits: far from 0, far from 1
    assert 1e-4 < err < 0.2, err


def test_flop_count_matches_the_closed_form_and_the_matmul_ceiling_is_measured():
    from m2l2.speed import Ceiling, count_gflop, matmul_gflops

    layer = torch.nn.Linear(64, 32)
    x = torch.randn(10, 64)
    assert count_gflop(lambda: layer(x)) * 1e9 == 2 * 10 * 64 * 32  # one multiply and one add per weight use
    conv = torch.nn.Conv1d(4, 8, kernel_size=3)
    y = torch.randn(1, 4, 50)
    assert count_gflop(lambda: conv(y)) * 1e9 == 2 * 48 * 8 * 4 * 3  # output positions × out × in × kernel
    assert 0.01 < matmul_gflops(CPU, n=256, budget=0.05) < 1e5
    assert "fp32" in Ceiling(12.0, None).text() and "no native bf16" in Ceiling(12.0, None).text()


def test_module_clock_counts_outermost_forward_passes_and_changes_no_output():
    from m2l2.speed import ModuleClock

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    x = torch.randn(4, 8)
    plain = net(x)
    with ModuleClock() as clock:
        timed = net(x)
        net(x)
    assert torch.equal(plain, timed)
    assert clock.calls == 2 and clock.seconds > 0  # the nested Linear/GELU calls are inside, not counted again
    net(x)
    assert clock.calls == 2  # hooks removed on exit
