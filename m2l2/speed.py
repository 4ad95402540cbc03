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

import torch

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


def _m2l2_fns(config: str, audio: torch.Tensor, device: torch.device, mode: str = "autoregressive"):
    import m2l2

    model = m2l2.build(config).to(device)
    latents = model.encode(audio)
    return (lambda: model.encode(audio)), (lambda: model.decode(latents, length=audio.shape[-1], mode=mode))


def _upstream_fns(audio: torch.Tensor, device: torch.device):
    """Upstream Music2Latent's UNet with random weights, its own pre/post-processing, 1 decoding step."""
    from music2latent.audio import to_representation_encoder, to_waveform
    from music2latent.inference import decode_to_representation
    from music2latent.models import UNet

    model = UNet().to(device).eval()
    wave = audio[:, 0]  # upstream treats channels as batch items

    @torch.no_grad()
    def encode():
        return model.encoder(to_representation_encoder(wave))

    latents = encode()

    @torch.no_grad()
    def decode():
        return to_waveform(decode_to_representation(model, latents, 1, device=device))

    return encode, decode


def run_speed(config: str, seconds_list: list[float], device: str, upstream: bool = True, repeats: int = 1,
              mode: str = "autoregressive") -> list[dict]:
    dev = torch.device(device)
    rows = []
    print(f"device: {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{torch.get_num_threads()} CPU threads'})")
    print(f"{'model':28s} {'audio s':>8s} {'enc RTF':>9s} {'dec RTF':>9s} {'enc MiB':>9s} {'dec MiB':>9s}")
    for seconds in seconds_list:
        audio = torch.randn(1, 1, int(seconds * SR), generator=torch.Generator().manual_seed(0)).to(dev) * 0.1
        label = config if mode == "autoregressive" else f"{config}, {mode}"
        candidates = [(f"Music2Latent2 ({label})", lambda a=audio: _m2l2_fns(config, a, dev, mode))]
        if upstream:
            candidates.append(("Music2Latent (upstream)", lambda a=audio: _upstream_fns(a, dev)))
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
                  f"decode {a['dec_rtf'] / b['dec_rtf']:.2f}x (RTF)")
    return rows
