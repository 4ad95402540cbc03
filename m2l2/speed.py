"""Encode/decode real-time factors and peak memory of Music2Latent2 (random weights) and, in the same run,
of upstream Music2Latent's network built directly from the `music2latent` package (no download).

RTF = seconds of compute per second of audio (lower is faster). Peak memory: CUDA peak allocation on GPU;
on CPU the largest of torch's allocator peak, Python/NumPy allocations and resident-set growth (`peak_bytes`).
Achieved GFLOP/s (matrix products and convolutions counted by torch's FlopCounterMode) are printed as a
share of the dense matmul throughput measured in the same run (`Ceiling`): how far the network is from what
this machine's BLAS reaches now. `ModuleClock` measures the time spent in module forward passes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from m2l2.errors import M2L2Error

SR = 44100
_CPU = torch.autograd.DeviceType.CPU


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _torch_cpu_peak(prof) -> int:
    """Peak of the running sum of torch CPU-allocator events (allocations positive, frees negative)."""
    events = [e for e in prof.kineto_results.events() if e.name() == "[memory]" and e.device_type() == _CPU]
    peak = live = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return peak


@contextmanager
def _rss_growth():
    """Yields a list whose [0] holds the peak resident-set growth of the block (sampled every 2 ms)."""
    base, peak, stop = _rss_bytes(), [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out = [0]
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out[0] = max(peak[0], _rss_bytes()) - base


@contextmanager
def _native_stderr_muted():
    """Native writes to stderr go nowhere inside the block. libkineto (torch 2.13) prints a "profiler_start" and
    a "profiler_stop" line at every start and stop of the profiler; only those two calls are muted."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextmanager
def peak_memory(device: torch.device, rss: bool = False):
    """Yields a dict whose "bytes" holds the peak memory growth of the block once it exits.

    CUDA: peak allocation above the start. CPU, the default: the larger of two exact accounts that cannot
    miss an allocation the way resident-set growth does (the allocator reuses memory it already holds):
    torch's CPU allocator (every allocation and free, through torch's autograd profiler) and Python/NumPy
    allocations (`tracemalloc`). `rss=True`: resident-set growth sampled every 2 ms instead, which also sees
    other native libraries; measured without the profiler, whose event buffers grow with the number of
    operations. `peak_bytes` takes both. Tracking slows the block down: time it separately.
    """
    result = {"bytes": 0}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield result
        torch.cuda.synchronize(device)
        result["bytes"] = torch.cuda.max_memory_allocated(device) - base
        return
    if rss:
        with _rss_growth() as growth:
            yield result
        result["bytes"] = result["rss"] = growth[0]
        return
    # The autograd profiler itself: `torch.profiler.profile` asks `hasattr(torch, "_inductor")` on start, which
    # imports torch._inductor and torch._dynamo (2.9 s once per process; 12 s under load in `m2l2 tables`).
    prof = torch.autograd.profiler.profile(profile_memory=True, use_kineto=True)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    with _native_stderr_muted():
        prof.__enter__()
    try:
        tracemalloc.reset_peak()
        py_base = tracemalloc.get_traced_memory()[0]
        try:
            yield result
        finally:
            py_peak = tracemalloc.get_traced_memory()[1] - py_base
    finally:
        with _native_stderr_muted():
            prof.__exit__(None, None, None)
    if not tracing:
        tracemalloc.stop()
    result.update(torch_allocator=_torch_cpu_peak(prof), python=py_peak)
    result["bytes"] = max(result["torch_allocator"], py_peak)


def peak_bytes(fn: Callable[[], object], device: torch.device) -> dict[str, int]:
    """Peak memory growth of one call of `fn`; on CPU two calls, the exact allocator accounts and the RSS
    growth (each in its own call), "bytes" the largest of them."""
    with peak_memory(device) as peak:
        fn()
    if device.type != "cuda":
        with peak_memory(device, rss=True) as grown:
            fn()
        peak["rss"] = grown["rss"]
        peak["bytes"] = max(peak["bytes"], grown["rss"])
    return peak


def measure(fn: Callable[[], object], seconds: float, device: torch.device, repeats: int) -> tuple[float, float]:
    """(RTF, peak MiB) of `fn`: best time of `repeats` after one warm-up call, memory of further calls
    (`peak_bytes`; memory tracking would distort the timing)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best / seconds, peak_bytes(fn, device)["bytes"] / 2**20


class ModuleClock:
    """Seconds spent inside torch module forward passes (outermost calls, per thread) while active: how much
    of a stage is model compute. Global module hooks that return nothing, so no output changes; each module
    call costs two Python calls more while the clock runs."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._local = threading.local()
        self._handles: list = []

    def _pre(self, module, args) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.start = time.perf_counter()
        self._local.depth = depth + 1

    def _post(self, module, args, output) -> None:
        self._local.depth = getattr(self._local, "depth", 1) - 1
        if self._local.depth == 0:
            self.seconds += time.perf_counter() - self._local.start
            self.calls += 1

    def __enter__(self) -> ModuleClock:
        from torch.nn.modules import module

        self._handles = [module.register_module_forward_pre_hook(self._pre),
                         module.register_module_forward_hook(self._post, always_call=True)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


@dataclass(frozen=True)
class SpeedOptions:
    """Inference options applied alike to both models of the comparison."""

    channels_last: bool = False  # convolutions in channels-last memory format (same outputs within float error)
    bf16: bool = False  # bfloat16 autocast: CPUs with native BF16 (AVX-512 BF16 / AMX) or CUDA only

    def check(self, device: torch.device) -> None:
        if self.bf16 and device.type == "cpu" and not bf16_native():
            raise M2L2Error(
                f"--bf16 needs native BF16 (AVX-512 BF16 or AMX) on this CPU, which has {cpu_capability()} "
                "(--bf16): leave it out, emulated bf16 is slower than fp32"
            )

    def apply(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def wrap(self, fn: Callable[[], object], device: torch.device) -> Callable[[], object]:
        if not self.bf16:
            return fn

        def run():
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return fn()

        return run


def cpu_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


def bf16_native() -> bool:
    """True where oneDNN runs bfloat16 natively (AVX-512 BF16 or AMX); machines differ, never assume."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048,
                  budget: float = 1.0) -> float:
    """Dense matrix-product throughput of this machine now (GFLOP/s): best n×n×n product of those that fit in
    about `budget` seconds, after a warm-up. The ceiling a network's convolutions and matmuls could reach."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=gen).to(device=device, dtype=dtype) for _ in range(2))
    out = torch.mm(a, b)
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < budget or best == float("inf"):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def count_gflop(fn: Callable[[], object]) -> float:
    """GFLOP of one call of `fn`: matrix products and convolutions (torch's FlopCounterMode; element-wise
    work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


@dataclass(frozen=True)
class Ceiling:
    """Dense matmul GFLOP/s measured in this run: fp32, and bf16 where the CPU runs it natively (or on CUDA)."""

    fp32: float
    bf16: float | None

    @classmethod
    def measure(cls, device: torch.device) -> Ceiling:
        native = device.type == "cuda" or bf16_native()
        return cls(matmul_gflops(device), matmul_gflops(device, torch.bfloat16) if native else None)

    def text(self) -> str:
        bf16 = f"{self.bf16:.0f}" if self.bf16 is not None else "no native bf16"
        return f"dense matmul ceiling (2048², this run): fp32 {self.fp32:.0f} GFLOP/s, bf16 {bf16}"


def _m2l2_fns(config: str, audio: torch.Tensor, device: torch.device, mode: str = "autoregressive",
              opts: SpeedOptions = SpeedOptions()):
    import m2l2

    model = opts.apply(m2l2.build(config).to(device))
    latents = model.encode(audio)

    def decode():
        return model.decode(latents, length=audio.shape[-1], mode=mode, generator=torch.Generator().manual_seed(0))

    return opts.wrap(lambda: model.encode(audio), device), opts.wrap(decode, device)


def _upstream_fns(audio: torch.Tensor, device: torch.device, opts: SpeedOptions = SpeedOptions()):
    """Upstream Music2Latent's UNet with random weights, its own pre/post-processing, 1 decoding step."""
    from music2latent.audio import to_representation_encoder, to_waveform
    from music2latent.inference import decode_to_representation
    from music2latent.models import UNet

    model = opts.apply(UNet().to(device).eval())
    wave = audio[:, 0]  # upstream treats channels as batch items

    @torch.no_grad()
    def encode():
        return model.encoder(to_representation_encoder(wave))

    latents = encode()

    @torch.no_grad()
    def decode():
        with warnings.catch_warnings():  # upstream asks for CUDA fp16 autocast and warns on every CPU call
            warnings.filterwarnings("ignore", message="CUDA is not available", category=UserWarning)
            return to_waveform(decode_to_representation(model, latents, 1, device=device))

    return opts.wrap(encode, device), opts.wrap(decode, device)


def bf16_error(config: str, seconds: float, device: torch.device, mode: str = "autoregressive") -> float:
    """Relative error ‖y_bf16 − y_fp32‖ / ‖y_fp32‖ of one decode (same latents and noise, random weights whose
    output head is perturbed so that the network, not only the skip connection, shapes the output)."""
    import m2l2

    torch.manual_seed(0)
    model = m2l2.build(config).to(device)
    for p in model.consistency.head[-1].parameters():
        p.data.normal_(0, 0.02)
    audio = torch.randn(1, model.channels, int(seconds * SR), generator=torch.Generator().manual_seed(0)) * 0.1
    latents = model.encode(audio.to(device))

    def decode():
        return model.decode(latents, length=audio.shape[-1], mode=mode, generator=torch.Generator().manual_seed(0))

    ref = decode()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        low = decode()
    return float((low.float() - ref).norm() / ref.norm().clamp_min(1e-12))


def _time_row(name: str, seconds: float, enc, dec, dev: torch.device, repeats: int, peak: float) -> dict:
    """RTF, peak memory, FLOPs and achieved GFLOP/s (and its share of the matmul ceiling `peak`) of one model."""
    enc_rtf, enc_mem = measure(enc, seconds, dev, repeats)
    dec_rtf, dec_mem = measure(dec, seconds, dev, repeats)
    enc_gflop, dec_gflop = count_gflop(enc), count_gflop(dec)
    enc_rate, dec_rate = enc_gflop / (enc_rtf * seconds), dec_gflop / (dec_rtf * seconds)
    return dict(model=name, seconds=seconds, enc_rtf=enc_rtf, dec_rtf=dec_rtf, enc_mib=enc_mem, dec_mib=dec_mem,
                enc_gflop=enc_gflop, dec_gflop=dec_gflop, enc_gflops=enc_rate, dec_gflops=dec_rate,
                enc_of_peak=enc_rate / peak, dec_of_peak=dec_rate / peak)


def _print_ratios(rows: list[dict], seconds_list: list[float]) -> None:
    by = {(r["model"].split(" ")[0], r["seconds"]): r for r in rows}
    for seconds in seconds_list:
        a, b = by.get(("Music2Latent2", seconds)), by.get(("Music2Latent", seconds))
        if a and b:
            print(f"ratio Music2Latent2 / Music2Latent at {seconds:g} s: encode {a['enc_rtf'] / b['enc_rtf']:.2f}x, "
                  f"decode {a['dec_rtf'] / b['dec_rtf']:.2f}x, encode + decode "
                  f"{(a['enc_rtf'] + a['dec_rtf']) / (b['enc_rtf'] + b['dec_rtf']):.2f}x (RTF)")


def run_speed(config: str, seconds_list: list[float], device: str, upstream: bool = True, repeats: int = 1,
              mode: str = "autoregressive", opts: SpeedOptions = SpeedOptions()) -> list[dict]:
    """Time Music2Latent2 (and upstream's network) at each length; print RTF, peak memory and the achieved
    GFLOP/s as a share of this run's dense matmul throughput (bf16's when `opts.bf16`, else fp32's)."""
    from m2l2 import threads

    dev = torch.device(device)
    opts.check(dev)
    rows = []
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else threads.current().describe()
    print(f"device: {dev} ({where}); CPU {cpu_capability()}, native bf16: {bf16_native()}; "
          f"channels-last: {opts.channels_last}, bf16 autocast: {opts.bf16} (both models alike)")
    ceiling = Ceiling.measure(dev)
    peak = ceiling.bf16 if opts.bf16 and ceiling.bf16 else ceiling.fp32
    print(f"{ceiling.text()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'model':28s} {'audio s':>8s} {'enc RTF':>9s} {'dec RTF':>9s} {'enc MiB':>9s} {'dec MiB':>9s} "
          f"{'enc GFLOP/s':>12s} {'dec GFLOP/s':>12s} {'of matmul enc/dec':>18s}")
    for seconds in seconds_list:
        audio = torch.randn(1, 1, int(seconds * SR), generator=torch.Generator().manual_seed(0)).to(dev) * 0.1
        label = config if mode == "autoregressive" else f"{config}, {mode}"
        candidates = [(f"Music2Latent2 ({label})", lambda a=audio: _m2l2_fns(config, a, dev, mode, opts))]
        if upstream:
            candidates.append(("Music2Latent (upstream)", lambda a=audio: _upstream_fns(a, dev, opts)))
        for name, make in candidates:
            try:
                enc, dec = make()
            except Exception as e:  # the upstream package is optional
                print(f"{name:28s} {seconds:8.0f}  not measured: {type(e).__name__}: {e}")
                continue
            r = _time_row(name, seconds, enc, dec, dev, repeats, peak)
            rows.append(r)
            share = f"{r['enc_of_peak']:.0%} / {r['dec_of_peak']:.0%}"
            print(f"{name:28s} {seconds:8.0f} {r['enc_rtf']:9.3f} {r['dec_rtf']:9.3f} {r['enc_mib']:9.0f} "
                  f"{r['dec_mib']:9.0f} {r['enc_gflops']:12.1f} {r['dec_gflops']:12.1f} {share:>18s}")
    _print_ratios(rows, seconds_list)
    if opts.bf16:
        print(f"bf16 vs fp32 decode of Music2Latent2 ({config}, {seconds_list[0]:g} s): relative error "
              f"{bf16_error(config, seconds_list[0], dev, mode):.2e}")
    return rows
