"""SAME-S / SAME-L, Stable Audio 3's autoencoders, through `diffusers` (`AutoencoderSAME`, diffusers >= 0.40).

diffusers reads them in its own layout (`config.json` + `diffusion_pytorch_model.safetensors`), which the
Stable Audio 3 pipeline repositories hold in their `vae/` subfolder (SAME-S: `stable-audio-3-small-music`,
SAME-L: `stable-audio-3-medium`; both gated). The standalone repositories `stabilityai/SAME-S` / `SAME-L`
hold the stable-audio-tools layout (`model_config.json` + `model.safetensors`), which AutoencoderSAME does
not read; a folder converted from them with diffusers' Stable Audio 3 conversion script works as
`local_dir=FOLDER` (with its files in `vae/`). 44.1 kHz stereo, 256 values per 4096 samples (32x), a
deterministic encoder (soft-norm bottleneck, no sampling).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import hub
from baselines.adapters.pretrained import PretrainedAE
from baselines.interface import PCM_BITS, Package, Requirement, import_optional
from baselines.latent import LatentLayout, LatentSize, tensor_size
from m2l2.errors import M2L2Error

LICENCE = "Stability AI Community License (gated repository)"
PACKAGE = Package("diffusers", "m2l2[baselines]", "AutoencoderSAME is in diffusers >= 0.40")
# AutoencoderSAME's defaults are SAME-S; SAME-L differs in these (diffusers' class documentation).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "s": {},
    "l": {"encoder_channels": 256, "encoder_transformer_depths": [12], "decoder_sinusoidal_blocks": [8]},
}
REPOS = {"s": "stabilityai/stable-audio-3-small-music", "l": "stabilityai/stable-audio-3-medium"}
WEIGHTS = {v: hub.register_hub(hub.HubWeights(
    name=f"same-{v}", repo_id=repo, files=("vae/config.json", "vae/diffusion_pytorch_model.safetensors"),
    licence=LICENCE, gated=True, used_by=f"baselines: same-{v}")) for v, repo in REPOS.items()}


def _diffusers_class() -> Any:
    diffusers = import_optional(PACKAGE)
    cls = getattr(diffusers, "AutoencoderSAME", None)
    if cls is None:
        raise M2L2Error(
            f"no AutoencoderSAME in this diffusers, added in 0.40 (diffusers {diffusers.__version__}): pip "
            "install 'diffusers>=0.40'"
        )
    return cls


def full_config(config: dict) -> dict:
    import inspect

    params = inspect.signature(_diffusers_class().__init__).parameters
    defaults = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **config}


def layout_for(config: dict) -> LatentLayout:
    """Latent frames per second and values per frame an AutoencoderSAME config implies."""
    cfg = full_config(config)
    hop = cfg["patch_size"] * math.prod(cfg["encoder_strides"])
    dim = int(cfg["latent_dim"])
    return LatentLayout(cfg["sampling_rate"] / hop, dim, PCM_BITS, f"[{dim}, T]")


class SAMEAE(PretrainedAE):
    licence = LICENCE
    stochastic = False

    @classmethod
    def requirements_for(cls, size: str = "s", **_: Any) -> Requirement:
        if size not in WEIGHTS:
            raise M2L2Error(f"unknown SAME size {size!r} (option size): use s or l")
        return Requirement(packages=(PACKAGE,), hub=(WEIGHTS[size].name,))

    @classmethod
    def describe(cls, size: str = "s", **_: Any) -> tuple[LatentLayout, int, int]:
        cfg = full_config(ARCHITECTURES[size])
        return layout_for(ARCHITECTURES[size]), int(cfg["sampling_rate"]), int(cfg["audio_channels"])

    def __init__(self, size: str = "s", local_dir: str | Path | None = None, revision: str | None = None,
                 download: bool | None = None, random_init: bool = False, config: dict | None = None,
                 device: str = "cpu"):
        """`config` (AutoencoderSAME arguments) changes the architecture with random_init (tests: a small one)."""
        self.requirements_for(size)
        cls = _diffusers_class()
        found = self._weights(WEIGHTS[size], local_dir, revision, download, random_init)
        if found is None:
            model = cls(**{**ARCHITECTURES[size], **(config or {})})
        else:
            root = found.path("vae/config.json").parent.parent
            model = cls.from_pretrained(str(root), subfolder="vae", local_files_only=True)
            self._pretrained(found, "vae/diffusion_pytorch_model.safetensors")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.name = f"same-{size}"
        self.sample_rate = int(model.config.sampling_rate)
        self.channels = int(model.config.audio_channels)
        self.hop = int(model.downsampling_ratio)
        self._measure(self.hop)

    def latent_size(self, latent: torch.Tensor) -> LatentSize:
        return tensor_size(latent)

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        return self.model.encode(self._input_whole_hops(audio)).latents[0].cpu()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        return self._decode_sample(latent, int(self.model.config.latent_dim), length)
