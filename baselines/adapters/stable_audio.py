"""Stable Audio Open 1.0's autoencoder (VAE, "Oobleck") through `diffusers` (`AutoencoderOobleck`).

Weights: the `vae/` subfolder of the gated repository `stabilityai/stable-audio-open-1.0` (accept its licence on
the hub, log in, `m2l2 weights fetch stable-audio-open-vae`), read from the hub cache or a local copy of the
repository (`local_dir=`). No diffusion model or text conditioner is built, and nothing imports torchaudio.
The VAE samples its latent from the posterior (`sample_posterior=True`, as Stable Audio does), so encoding is
seeded; `sample_posterior=false` takes the posterior mode. Latent: 64 values per 2048 stereo samples → 64x.
"""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import hub
from baselines.adapters.pretrained import PretrainedAE
from baselines.interface import PCM_BITS, Package, Requirement, import_optional
from baselines.latent import LatentLayout, LatentSize, tensor_size

LICENCE = "Stability AI Community License (gated repository)"
WEIGHTS = hub.register_hub(hub.HubWeights(
    name="stable-audio-open-vae", repo_id="stabilityai/stable-audio-open-1.0",
    files=("vae/config.json", "vae/diffusion_pytorch_model.safetensors"), licence=LICENCE, gated=True,
    used_by="baselines: stable-audio-vae"))
PACKAGE = Package("diffusers", "m2l2[baselines]", "diffusers >= 0.30 has AutoencoderOobleck")
# AutoencoderOobleck's defaults are Stable Audio Open 1.0's VAE (its vae/config.json).
ARCHITECTURE: dict[str, Any] = {}


def full_config(config: dict) -> dict:
    """AutoencoderOobleck's defaults overridden by `config`."""
    from diffusers import AutoencoderOobleck

    defaults = {k: p.default for k, p in inspect.signature(AutoencoderOobleck.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **config}


def layout_for(config: dict) -> LatentLayout:
    """Latent frames per second and values per frame an AutoencoderOobleck config implies."""
    cfg = full_config(config)
    dim = int(cfg["decoder_input_channels"])
    return LatentLayout(cfg["sampling_rate"] / math.prod(cfg["downsampling_ratios"]), dim, PCM_BITS, f"[{dim}, T]")


class StableAudioVAE(PretrainedAE):
    licence = LICENCE
    stochastic = True

    @classmethod
    def requirements_for(cls, **_: Any) -> Requirement:
        return Requirement(packages=(PACKAGE,), hub=(WEIGHTS.name,))

    @classmethod
    def describe(cls, **_: Any) -> tuple[LatentLayout, int, int]:
        cfg = full_config(ARCHITECTURE)
        return layout_for(ARCHITECTURE), int(cfg["sampling_rate"]), int(cfg["audio_channels"])

    def __init__(self, local_dir: str | Path | None = None, revision: str | None = None,
                 download: bool | None = None, random_init: bool = False, config: dict | None = None,
                 sample_posterior: bool = True, seed: int | None = 0, device: str = "cpu"):
        """`config` (AutoencoderOobleck arguments) changes the architecture with random_init (tests: a small one)."""
        import_optional(PACKAGE)
        from diffusers import AutoencoderOobleck

        found = self._weights(WEIGHTS, local_dir, revision, download, random_init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # its use of the deprecated torch weight_norm
            if found is None:
                model = AutoencoderOobleck(**{**ARCHITECTURE, **(config or {})})
            else:
                root = found.path("vae/config.json").parent.parent
                model = AutoencoderOobleck.from_pretrained(str(root), subfolder="vae", local_files_only=True)
                self._pretrained(found, "vae/diffusion_pytorch_model.safetensors")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        c = model.config
        self.name = "stable-audio-vae"
        self.sample_rate = int(c.sampling_rate)
        self.channels = int(c.audio_channels)
        self.hop = int(np.prod(c.downsampling_ratios))
        self.sample_posterior = bool(sample_posterior)
        self.stochastic = self.sample_posterior
        self.seed = seed
        self._measure(self.hop)

    def latent_size(self, latent: torch.Tensor) -> LatentSize:
        return tensor_size(latent)

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        dist = self.model.encode(self._input_whole_hops(audio)).latent_dist
        if not self.sample_posterior:
            return dist.mode()[0].cpu()
        gen = torch.Generator(device=self.device).manual_seed(int(self.seed or 0))
        return dist.sample(generator=gen)[0].cpu()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        return self._decode_sample(latent, int(self.model.config.decoder_input_channels), length)
