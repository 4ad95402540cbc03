"""Stable Audio Open 1.0's autoencoder (VAE, "Oobleck"), from a config JSON plus a local state dict.

Two backends, neither builds the diffusion model or its text conditioners:
- `diffusers` (default): `AutoencoderOobleck` from the repository's `vae/config.json` and
  `vae/diffusion_pytorch_model.safetensors`. Pure PyTorch: imports on these machines.
- `stable-audio-tools`: `create_autoencoder_from_config` on `model_config.json`'s pretransform, with the
  `pretransform.model.*` tensors of `model.safetensors`. Its modules import torchaudio.
The VAE samples its latent from the posterior (`sample_posterior=True`, as Stable Audio does), so encoding is
seeded. Latent: 64 values per 2048 stereo samples → 64x. The weights live in a gated repository: accept its
licence on the hub and download the files by hand.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from baselines.harness import seeded
from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import WeightsFile, register_weights, require_weights, sha256_of

_REPO = "https://huggingface.co/stabilityai/stable-audio-open-1.0/resolve/main"
_LICENCE = "Stability AI Community License (gated repository)"


def _reg(name: str, filename: str) -> WeightsFile:
    return register_weights(WeightsFile(name=name, filename=f"stable-audio-open-1.0/{filename}",
                                        url=f"{_REPO}/{filename}", licence=_LICENCE,
                                        used_by="baselines: stable-audio-vae"))


FILES = {
    "diffusers": (_reg("stable-audio-open-vae-config", "vae/config.json"),
                  _reg("stable-audio-open-vae", "vae/diffusion_pytorch_model.safetensors")),
    "stable-audio-tools": (_reg("stable-audio-open-config", "model_config.json"),
                           _reg("stable-audio-open", "model.safetensors")),
}
PACKAGES = {
    "diffusers": Package("diffusers", "diffusers>=0.30"),
    "stable-audio-tools": Package("stable_audio_tools", "stable-audio-tools (or --no-deps plus einops, alias-free-torch)",
                                  "imports torchaudio, which must match the installed torch"),
}
PREFIX = "pretransform.model."


def autoencoder_config(model_config: dict) -> dict:
    """The autoencoder part of a Stable Audio model config (or the config itself for an autoencoder)."""
    if model_config.get("model_type") == "autoencoder":
        return model_config
    try:
        pre = model_config["model"]["pretransform"]
    except KeyError as e:
        raise M2L2Error("model config has no model.pretransform (is it Stable Audio Open's model_config.json?)") from e
    if pre.get("type") != "autoencoder":
        raise M2L2Error(f"pretransform type is {pre.get('type')!r}, expected 'autoencoder'")
    return {"model_type": "autoencoder", "sample_rate": model_config["sample_rate"], "model": pre["config"]}


class StableAudioVAE(Autoencoder):
    stochastic = True

    @classmethod
    def requirements_for(cls, backend: str = "diffusers", **_) -> Requirement:
        if backend not in FILES:
            raise M2L2Error(f"unknown backend {backend!r}; use one of {sorted(FILES)}")
        return Requirement(packages=(PACKAGES[backend],), weights=tuple(f.name for f in FILES[backend]))

    def __init__(self, backend: str = "diffusers", config_path: str | Path | None = None,
                 weights_path: str | Path | None = None, random_init: bool = False,
                 config: dict | None = None, sample_posterior: bool = True, seed: int | None = 0,
                 device: str = "cpu"):
        """`config` (a dict) replaces the config file, e.g. a small architecture for tests with random_init."""
        self.requirements_for(backend)
        import_optional(PACKAGES[backend])
        cfg_file, weights_file = FILES[backend]
        if config is None:
            config = json.loads(require_weights(cfg_file.name, config_path).read_text())
        path = None if random_init else require_weights(weights_file.name, weights_path)
        self.device = torch.device(device)
        self.backend = backend
        if backend == "diffusers":
            self._build_diffusers(config, path)
        else:
            self._build_sat(config, path)
        self.model = self.model.to(self.device).eval()
        self._provenance = (Provenance(False, note="random initialisation (tests only)") if path is None else
                            Provenance(True, weights=weights_file.name, path=str(path), sha256=sha256_of(path)))
        self.name = "stable-audio-vae"
        self.sample_posterior = bool(sample_posterior)
        self.stochastic = self.sample_posterior
        self.seed = seed

    def _build_diffusers(self, config: dict, path: Path | None) -> None:
        from diffusers import AutoencoderOobleck
        from safetensors.torch import load_file

        known = set(inspect.signature(AutoencoderOobleck.__init__).parameters) - {"self"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # its use of the deprecated torch weight_norm
            model = AutoencoderOobleck(**{k: v for k, v in config.items() if k in known})
        if path is not None:
            model.load_state_dict(load_file(str(path)), strict=True)
        self.model = model
        c = model.config
        self.sample_rate = int(c.sampling_rate)
        self.channels = int(c.audio_channels)
        self.hop = int(np.prod(c.downsampling_ratios))
        self.latent_dim = int(c.decoder_input_channels)
        self.latent_rate = self.sample_rate / self.hop

    def _build_sat(self, config: dict, path: Path | None) -> None:
        from stable_audio_tools.models.autoencoders import create_autoencoder_from_config

        ae_cfg = autoencoder_config(config)
        model = create_autoencoder_from_config(ae_cfg)
        if path is not None:
            model.load_state_dict(self._sat_state(path), strict=True)
        self.model = model
        self.sample_rate = int(ae_cfg["sample_rate"])
        self.channels = int(ae_cfg["model"].get("io_channels", 2))
        self.hop = int(ae_cfg["model"]["downsampling_ratio"])
        self.latent_dim = int(ae_cfg["model"]["latent_dim"])
        self.latent_rate = self.sample_rate / self.hop

    @staticmethod
    def _sat_state(path: Path) -> dict[str, torch.Tensor]:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            state = state.get("state_dict", state)
        if any(k.startswith(PREFIX) for k in state):
            state = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
        return state

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None]
        x = torch.nn.functional.pad(x, (0, (-x.shape[-1]) % self.hop)).to(self.device)
        if self.backend == "diffusers":
            dist = self.model.encode(x).latent_dist
            if not self.sample_posterior:
                return dist.mode()[0].cpu()
            gen = torch.Generator(device=self.device).manual_seed(int(self.seed or 0))
            return dist.sample(generator=gen)[0].cpu()
        with seeded(self.seed if self.sample_posterior else 0):
            return self.model.encode(x)[0].cpu()  # its VAE bottleneck samples with torch's global generator

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        z = latent[None].to(self.device)
        y = self.model.decode(z).sample if self.backend == "diffusers" else self.model.decode(z)
        y = y[0].cpu().numpy()
        return y if length is None else y[:, :length]
