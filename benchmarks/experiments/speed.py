"""Speed table: encode/decode real-time factors and peak memory of every runnable autoencoder of a
configuration, on the same machine, in the same run, on the same audio.

The audio is the first clip of the evaluation set, repeated or cut to `speed.seconds`, converted to each
model's native rate and channels beforehand (conversion is not timed). RTF = compute seconds per second of
audio, best of `repeats` after one warm-up (lower is faster); peak memory as in `m2l2.speed.peak_memory`
(CUDA peak allocation, or growth of this process's resident set on CPU). The rows are reused on a rerun
when every model, the settings, the audio and the machine are unchanged; otherwise all are timed again, so
that every row of the table comes from one run.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import store
from benchmarks.building import build_variant, is_random_weights, model_identity
from benchmarks.config import ModelSpec, TablesConfig, find_model
from benchmarks.evalset import clips_for
from benchmarks.experiments.base import RunOptions, RunSummary, finish
from benchmarks.provenance import provenance
from m2l2.errors import M2L2Error

SPEED_VERSION = "speed-v4"  # v2: one run for all rows; v3: CPU peak from allocator events; v4: RSS in its own call


@dataclass
class SpeedSettings:
    seconds: float = 10.0  # length of the timed audio
    repeats: int = 3  # timed calls per direction (best is kept), after one warm-up call
    models: list[str] | None = None  # labels from `models`; None: every model of the configuration
    device: str = "cpu"  # where Music2Latent2 models run ("cuda" on a GPU machine)
    threads: int | None = None  # CPU threads (None: m2l2.threads' choice, --threads or the usable CPUs)

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise M2L2Error(f"timed audio of {self.seconds} s (speed.seconds): give a length above 0")
        if self.repeats < 1:
            raise M2L2Error(f"{self.repeats} timed calls (speed.repeats): give at least 1")


def timed_audio(cfg: TablesConfig, seconds: float) -> tuple[np.ndarray, int, str]:
    """(audio [C, N], rate, content hash) of the first evaluation clip, tiled or cut to `seconds`."""
    from benchmarks.metrics.cache import array_content_hash

    audio, sr = clips_for(cfg, 1, progress=False)[0].load()
    n = int(round(seconds * sr))
    audio = np.tile(audio, (1, -(-n // audio.shape[-1])))[:, :n].astype(np.float32)
    return audio, int(sr), array_content_hash(audio, sr)


def machine_info(device: str) -> dict[str, Any]:
    import torch

    info = {
        "host": platform.node(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def time_model(ae: Any, audio: np.ndarray, sr: int, repeats: int, device: str) -> dict[str, float]:
    """Encode/decode RTF and peak MiB of one autoencoder on `audio` (converted to its native format first)."""
    import torch

    from baselines.harness import to_native
    from m2l2.speed import measure

    native = to_native(ae, audio, sr)
    seconds = native.shape[-1] / ae.sample_rate
    dev = torch.device(device if hasattr(ae, "model") else "cpu")
    latent = ae.encode(native)
    enc_rtf, enc_mib = measure(lambda: ae.encode(native), seconds, dev, repeats)
    dec_rtf, dec_mib = measure(lambda: ae.decode(latent, length=native.shape[-1]), seconds, dev, repeats)
    return {
        "encode_rtf": enc_rtf,
        "decode_rtf": dec_rtf,
        "encode_peak_mib": enc_mib,
        "decode_peak_mib": dec_mib,
        "seconds": seconds,
    }


def previous_rows(old: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[float] | None]:
    """(label → row, load average) of the result an earlier run left; nothing from a malformed one."""
    try:
        return {r["label"]: r for r in old.get("rows", [])}, old.get("load_average_1_5_15_min")
    except (KeyError, TypeError):
        return {}, None


Timed = tuple[ModelSpec, Any, dict[str, Any], str]  # (spec, autoencoder, identity, row key) of a model to time


def build_models(cfg: TablesConfig, st: SpeedSettings, specs: list[ModelSpec], audio_hash: str,
                 machine: dict[str, Any], summary: RunSummary) -> list[Timed]:
    """(spec, autoencoder, identity, row key) of every model to time; those that cannot be built are skipped
    with their reason. Music2Latent2 models run on `st.device` unless their entry names a device."""
    models = []
    for spec in specs:
        if spec.name.startswith("music2latent2") and "device" not in spec.options:
            spec = dataclasses.replace(spec, options={**spec.options, "device": st.device})
        ae, why = build_variant(spec, cfg.allow_random)
        if ae is None:
            summary.skipped_models[spec.label] = why or "unavailable"
            continue
        identity = model_identity(spec, ae)
        key = store.key([SPEED_VERSION, identity, dataclasses.asdict(st), audio_hash, machine])
        models.append((spec, ae, identity, key))
    return models


def time_rows(models: list[Timed], audio: np.ndarray, sr: int,
              st: SpeedSettings, opts: RunOptions, summary: RunSummary) -> list[dict[str, Any]]:
    """One timed row per model; a model that fails while timed is skipped with the error."""
    from tqdm import tqdm

    rows = []
    for spec, ae, identity, key in tqdm(models, desc="speed", unit="model", disable=not opts.progress):
        try:
            timing = time_model(ae, audio, sr, st.repeats, st.device)
        except (M2L2Error, RuntimeError, OSError) as e:
            summary.skipped_models[spec.label] = f"failed while timing: {type(e).__name__}: {e}"
            continue
        info = ae.info()
        rows.append(
            {
                "label": spec.label,
                "name": spec.name,
                "kind": spec.kind,
                "key": key,
                "compression_ratio": info["compression_ratio"],
                "stereo": info["stereo"],
                "random_weights": is_random_weights(ae),
                "identity": identity,
                **timing,
            }
        )
        summary.rows_computed += 1
        if opts.on_clip:
            opts.on_clip("speed", spec.label, "timing")
    return rows


def run(cfg: TablesConfig, st: SpeedSettings, opts: RunOptions) -> RunSummary:
    """Time every runnable model of `cfg` (reusing rows measured earlier on this machine with these inputs)."""
    t0 = time.time()
    if st.threads:
        from m2l2 import threads

        threads.apply(int(st.threads))  # torch and BLAS alike, for the rest of this process
    summary = RunSummary(name="speed")
    specs = [find_model(cfg, label) for label in st.models] if st.models is not None else list(cfg.models)
    audio, sr, audio_hash = timed_audio(cfg, st.seconds)
    machine = machine_info(st.device)
    result_file = store.result_path(cfg.output_dir, "speed", cfg.name)
    load = [round(x, 2) for x in os.getloadavg()]  # at the start: what the timed rows competed with
    previous, old_load = previous_rows(store.read_previous(result_file) or {})
    models = build_models(cfg, st, specs, audio_hash, machine, summary)
    # Rows are comparable only when timed in one run: reuse them all, or time them all again.
    reused = []
    if models and all(previous.get(spec.label, {}).get("key") == key for spec, _, _, key in models):
        reused = [previous[spec.label] for spec, _, _, _ in models]
        summary.rows_reused += len(reused)
    rows = reused + time_rows([] if reused else models, audio, sr, st, opts, summary)
    if not summary.rows_computed and old_load is not None:
        load = old_load  # nothing was timed in this run: keep the conditions of the run that timed the rows
    result = {
        **store.result_head("speed", cfg),
        "settings": dataclasses.asdict(st),
        "audio": {
            "seconds": st.seconds,
            "sample_rate": sr,
            "channels": int(audio.shape[0]),
            "sha256": audio_hash,
            "source": f"first clip of {cfg.dataset.name}, tiled/cut",
        },
        "machine": machine,
        "load_average_1_5_15_min": load,
        "rows": rows,
        "skipped_models": summary.skipped_models,
        "random_weights": sorted(r["label"] for r in rows if r["random_weights"]),
        "provenance": provenance(rows, {"speed": SPEED_VERSION}),
    }
    return finish(summary, result_file, result, t0)
