"""Encode/decode real-time factors and peak memory of Music2Latent2 (random weights) and, in the same run,
of upstream Music2Latent's network built directly from the `music2latent` package (no download).

RTF = seconds of compute per second of audio (lower is faster). Peak memory: CUDA peak allocation on GPU;
on CPU the largest of torch's allocator peak, Python/NumPy allocations and resident-set growth (`peak_bytes`).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
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
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type() == _CPU]
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
def peak_memory(device: torch.device, rss: bool = False):
    """Yields a dict whose "bytes" holds the peak memory growth of the block once it exits.

    CUDA: peak allocation above the start. CPU, the default: the larger of two exact accounts that cannot
    miss an allocation the way resident-set growth does (the allocator reuses memory it already holds):
    torch's CPU allocator (every allocation and free, through `torch.profiler`) and Python/NumPy
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
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    with prof:
        tracemalloc.reset_peak()
        py_base = tracemalloc.get_traced_memory()[0]
        try:
            yield result
        finally:
            py_peak = tracemalloc.get_traced_memory()[1] - py_base
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


@dataclass(frozen=True)
class SpeedOptions:
    """Inference options applied alike to both models of the comparison."""

    channels_last: bool = False  # convolutions in channels-last memory format (same outputs within float error)
    bf16: bool = False  # bfloat16 autocast: CPUs with native BF16 (AVX-512 BF16 / AMX) or CUDA only

    def check(self, device: torch.device) -> None:
        if self.bf16 and device.type == "cpu" and not bf16_native():
            raise M2L2Error(
                f"--bf16 needs native BF16 on this CPU (AVX-512 BF16 or AMX); it has {cpu_capability()}: "
                "emulated bf16 is slower than fp32"
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


def run_speed(config: str, seconds_list: list[float], device: str, upstream: bool = True, repeats: int = 1,
              mode: str = "autoregressive", opts: SpeedOptions = SpeedOptions()) -> list[dict]:
    dev = torch.device(device)
    opts.check(dev)
    rows = []
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device: {dev} ({where}); CPU {cpu_capability()}, native bf16: {bf16_native()}; "
          f"channels-last: {opts.channels_last}, bf16 autocast: {opts.bf16} (both models alike)")
    print(f"{'model':28s} {'audio s':>8s} {'enc RTF':>9s} {'dec RTF':>9s} {'enc MiB':>9s} {'dec MiB':>9s}")
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
            enc_rtf, enc_mem = measure(enc, seconds, dev, repeats)
            dec_rtf, dec_mem = measure(dec, seconds, dev, repeats)
            rows.append(dict(model=name, seconds=seconds, enc_rtf=enc_rtf, dec_rtf=dec_rtf, enc_mib=enc_mem,
                             dec_mib=dec_mem))
            print(f"{name:28s} {seconds:8.0f} {enc_rtf:9.3f} {dec_rtf:9.3f} {enc_mem:9.0f} {dec_mem:9.0f}")
    by = {(r["model"].split(" ")[0], r["seconds"]): r for r in rows}
    for seconds in seconds_list:
        a, b = by.get(("Music2Latent2", seconds)), by.get(("Music2Latent", seconds))
        if a and b:
            print(f"ratio Music2Latent2 / Music2Latent at {seconds:g} s: encode {a['enc_rtf'] / b['enc_rtf']:.2f}x, "
                  f"decode {a['dec_rtf'] / b['dec_rtf']:.2f}x, encode + decode "
                  f"{(a['enc_rtf'] + a['dec_rtf']) / (b['enc_rtf'] + b['dec_rtf']):.2f}x (RTF)")
    if opts.bf16:
        print(f"bf16 vs fp32 decode of Music2Latent2 ({config}, {seconds_list[0]:g} s): relative error "
              f"{bf16_error(config, seconds_list[0], dev, mode):.2e}")
    return rows
