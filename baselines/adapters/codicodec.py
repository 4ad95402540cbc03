"""CoDiCodec (Pasini et al. 2025) through its PyPI package `codicodec`, weights `SonyCSLParis/codicodec`.

The package's `EncoderDecoder()` downloads its checkpoint into its own install folder in `__init__`; here
the network (`codicodec.models.UNet`, configured by the package's `hparams`) is built directly, the
checkpoint comes from the hub cache (loaded with `weights_only=True`), and the package's own
`EncoderDecoder.encode` / `decode` run on it. Stereo at the package's sample rate (`hparams.sample_rate`).

Options, all recorded in `info()`:
- `latent`: `continuous` (default; [T, 8, 64] floats per 32768-sample chunk, 128x) or `discrete`
  (FSQ indices [T, 128], log2(11^4) = 13.8 bits each).
- `mode`: `parallel` (default) or `autoregressive` decoding; `steps`: denoising steps (package defaults
  when null: 5 parallel, 2 autoregressive).
- `time_prompt`: noise level, as a time t in [0, 1], of the previous chunk in autoregressive decoding; the
  equivalent σ_cond = (σ_min^(1/ρ) + t (σ_max^(1/ρ) − σ_min^(1/ρ)))^ρ is computed with the package's own
  schedule and recorded beside it (the default t = 0.4 gives σ_cond ≈ 0.97).
Importing the package switches on TF32 and cuDNN benchmarking globally; the adapter restores the flags.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import hub
from baselines.adapters.pretrained import PretrainedAE
from baselines.harness import seeded
from baselines.interface import PCM_BITS, Package, Requirement, import_optional
from baselines.latent import LatentLayout, LatentSize, tensor_size
from m2l2.errors import M2L2Error

LICENCE = "CC BY-NC 4.0 (codicodec package and weights)"
WEIGHTS = hub.register_hub(hub.HubWeights(
    name="codicodec", repo_id="SonyCSLParis/codicodec", files=("codicodec.pt",), licence=LICENCE,
    used_by="baselines: codicodec"))
PACKAGE = Package("codicodec", "m2l2[hub-baselines]", "pulls librosa; needs no torchaudio for encode/decode")
LATENTS = ("continuous", "discrete")
MODES = ("parallel", "autoregressive")


def import_codicodec() -> Any:
    """Import the package with torch's global backend flags left as they were."""
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        import_optional(PACKAGE)
        from codicodec import hparams, inference, models, utils
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = flags
    return hparams, inference, models, utils


def layout_for(hp: Any, latent: str) -> LatentLayout:
    """The layout the package's hparams imply: one set of latents per `hop * spec_length` samples."""
    rate = hp.sample_rate / (hp.hop * hp.spec_length)
    if latent == "discrete":
        return LatentLayout(rate, hp.num_latents, math.log2(math.prod(hp.fsq_levels)), f"[T, {hp.num_latents}]")
    values = hp.num_latents * hp.bottleneck_channels
    return LatentLayout(rate, values, PCM_BITS, f"[T, {values // 64}, 64]")


class CoDiCodecAE(PretrainedAE):
    licence = LICENCE
    stochastic = True  # decoding starts from noise
    time_axis = 0

    @classmethod
    def requirements_for(cls, **_: Any) -> Requirement:
        return Requirement(packages=(PACKAGE,), hub=(WEIGHTS.name,))

    @classmethod
    def describe(cls, latent: str = "continuous", **_: Any) -> tuple[LatentLayout, int, int]:
        hp = import_codicodec()[0]
        return layout_for(hp, latent), int(hp.sample_rate), 2 if hp.stereo else 1

    def __init__(self, latent: str = "continuous", mode: str = "parallel", steps: int | None = None,
                 time_prompt: float | None = None, seed: int | None = 0, local_dir: str | Path | None = None,
                 revision: str | None = None, download: bool | None = None, random_init: bool = False,
                 max_batch_size: int = 8, device: str = "cpu"):
        if latent not in LATENTS or mode not in MODES:
            raise M2L2Error(
                f"codicodec: bad latent {latent!r} or mode {mode!r} (options latent, mode): use a latent of "
                f"{LATENTS} and a mode of {MODES}"
            )
        hp, inference, models, utils = import_codicodec()
        found = self._weights(WEIGHTS, local_dir, revision, download, random_init)
        net = models.UNet()
        if found is not None:
            from baselines.adapters.music2latent import Music2LatentAE  # same checkpoint format and loader

            net.load_state_dict(Music2LatentAE._load_state(found.path("codicodec.pt")), strict=True)
            self._pretrained(found, "codicodec.pt")
        self.device = torch.device(device)
        self.codec = self._codec(inference, hp, net.to(self.device).eval())
        self.hp, self.latent, self.mode, self.seed = hp, latent, mode, seed
        default_steps = hp.default_denoising_steps_parallel if mode == "parallel" else hp.default_denoising_steps_ar
        self.steps = int(steps or default_steps)
        self.time_prompt = float(hp.default_time_prompt if time_prompt is None else time_prompt)
        if not 0.0 <= self.time_prompt <= 1.0:
            raise M2L2Error(
                f"codicodec: time_prompt {self.time_prompt} out of range (option time_prompt): give a time "
                "in [0, 1]"
            )
        self.sigma_cond = float(utils.get_sigma_continuous(self.time_prompt))
        self.max_batch_size = int(max_batch_size)
        self.name = "codicodec" + ("-discrete" if latent == "discrete" else "") + ("-ar" if mode != "parallel" else "")
        self.sample_rate = int(hp.sample_rate)
        self.channels = 2 if hp.stereo else 1
        self.chunk = int(hp.hop * hp.spec_length)
        self._measure(self.chunk, units=(1, 2))

    def _codec(self, inference: Any, hp: Any, net: torch.nn.Module) -> Any:
        """The package's EncoderDecoder around our network, without its __init__ (which downloads)."""
        codec = inference.EncoderDecoder.__new__(inference.EncoderDecoder)
        codec.device, codec.gen = self.device, net
        codec.latents_per_timestep, codec.bottleneck_channels = hp.num_latents, hp.bottleneck_channels
        codec.past_spec = codec.past_latents = None
        return codec

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def latent_size(self, latent: torch.Tensor) -> LatentSize:
        bits = math.log2(math.prod(self.hp.fsq_levels)) if self.latent == "discrete" else PCM_BITS
        return tensor_size(latent, 0, bits)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "latent": self.latent, "mode": self.mode, "steps": self.steps,
                "time_prompt": self.time_prompt, "sigma_cond": self.sigma_cond}

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = self._input(audio)[0]
        out = self.codec.encode(x, max_batch_size=self.max_batch_size, discrete=self.latent == "discrete",
                                preprocess_on_gpu=self.on_gpu)
        return out.cpu()

    def _check(self, latent: Any) -> torch.Tensor:
        t = torch.as_tensor(latent) if isinstance(latent, np.ndarray | torch.Tensor) else None
        if self.latent == "discrete":
            n = self.hp.num_latents
            ok = t is not None and t.ndim == 2 and t.shape[1] == n and not torch.is_floating_point(t)
            ok = ok and int(t.min()) >= 0 and int(t.max()) < math.prod(self.hp.fsq_levels)
            expected = f"integer FSQ indices [T, {n}] in [0, {math.prod(self.hp.fsq_levels)})"
        else:
            rows = self.hp.num_latents * self.hp.bottleneck_channels // 64
            ok = t is not None and t.ndim == 3 and tuple(t.shape[1:]) == (rows, 64) and torch.is_floating_point(t)
            expected = f"float latents [T, {rows}, 64]"
        if not ok or t.shape[0] == 0:
            raise self._bad_latent(latent, expected)
        return t

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        z = self._check(latent)
        with seeded(self.seed):
            y = self.codec.decode(z, mode=self.mode, max_batch_size=self.max_batch_size, denoising_steps=self.steps,
                                  time_prompt=self.time_prompt, preprocess_on_gpu=self.on_gpu)
        y = y.reshape(self.channels, -1).float().cpu().numpy()
        return y if length is None else y[:, :length]
