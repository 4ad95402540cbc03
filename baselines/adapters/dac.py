"""Descript Audio Codec 44 kHz through `transformers` (`DacModel`), weights `descript/dac_44khz` from the hub cache.

Two latents: `codes` (default), the RVQ code matrix [9, T] at 86.13 Hz (10 bits per code: 7.75 kbit/s,
91x), or `quantized`, the continuous z [1024, T] the decoder reads (0.5x: larger than the input, which is why
the Music2Latent2 paper lists DAC's compression as "N/A"). `n_quantizers` keeps the first codebooks only.
Encoding is deterministic. transformers' DAC needs no torchaudio, unlike the `descript-audio-codec` package.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import hub
from baselines.adapters.pretrained import PretrainedAE, check_tensor
from baselines.interface import PCM_BITS, Package, Requirement, import_optional
from baselines.latent import LatentLayout, LatentSize, tensor_size
from m2l2.errors import M2L2Error

LICENCE = "MIT"
WEIGHTS = hub.register_hub(hub.HubWeights(
    name="dac-44khz", repo_id="descript/dac_44khz", files=("config.json", "model.safetensors"),
    licence=LICENCE, used_by="baselines: dac-44khz"))
PACKAGE = Package("transformers", "m2l2[hub-baselines]", "transformers >= 4.45 has DacModel")
# DacConfig's defaults describe the 16 kHz model; these are the 44.1 kHz model's (its config.json).
ARCHITECTURE = {"sampling_rate": 44100, "downsampling_ratios": [2, 4, 8, 8], "encoder_hidden_size": 64,
                "decoder_hidden_size": 1536, "n_codebooks": 9, "codebook_size": 1024, "codebook_dim": 8}
LATENTS = ("codes", "quantized")


def layout_for(config: dict, latent: str = "codes", n_quantizers: int | None = None) -> LatentLayout:
    """The latent layout a DacConfig implies (checked against measured latents by the tests)."""
    hop = math.prod(config["downsampling_ratios"])
    rate = config["sampling_rate"] / hop
    if latent == "codes":
        n = int(n_quantizers or config["n_codebooks"])
        return LatentLayout(rate, n, math.log2(config["codebook_size"]), f"[{n}, T]")
    dim = config["encoder_hidden_size"] * 2 ** len(config["downsampling_ratios"])
    return LatentLayout(rate, dim, PCM_BITS, f"[{dim}, T]")


class DACAE(PretrainedAE):
    licence = LICENCE
    stochastic = False

    @classmethod
    def requirements_for(cls, **_: Any) -> Requirement:
        return Requirement(packages=(PACKAGE,), hub=(WEIGHTS.name,))

    @classmethod
    def describe(cls, latent: str = "codes", n_quantizers: int | None = None, **_: Any) -> tuple[LatentLayout, int, int]:
        return layout_for(ARCHITECTURE, latent, n_quantizers), ARCHITECTURE["sampling_rate"], 1

    def __init__(self, latent: str = "codes", n_quantizers: int | None = None, local_dir: str | Path | None = None,
                 revision: str | None = None, download: bool | None = None, random_init: bool = False,
                 config: dict | None = None, device: str = "cpu"):
        """`config` (DacConfig fields) replaces the 44.1 kHz architecture with random_init, e.g. a smaller one for tests."""
        if latent not in LATENTS:
            raise M2L2Error(f"dac-44khz: unknown latent {latent!r} (option latent): use one of {LATENTS}")
        import_optional(PACKAGE)
        from transformers import DacConfig, DacModel

        found = self._weights(WEIGHTS, local_dir, revision, download, random_init)
        if found is None:
            model = DacModel(DacConfig(**{**ARCHITECTURE, **(config or {})}))
        else:
            model = DacModel.from_pretrained(str(found.path("config.json").parent), local_files_only=True)
            self._pretrained(found, "model.safetensors")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        cfg = model.config
        self.n_quantizers = int(n_quantizers or cfg.n_codebooks)
        if not 1 <= self.n_quantizers <= cfg.n_codebooks:
            raise M2L2Error(
                f"dac-44khz: n_quantizers {n_quantizers} out of range (option n_quantizers): give "
                f"1..{cfg.n_codebooks}"
            )
        self.latent = latent
        self.name = "dac-44khz" if latent == "codes" else "dac-44khz-quantized"
        self.sample_rate = int(cfg.sampling_rate)
        self.channels = 1
        self.hop = int(cfg.hop_length)
        self._measure(self.hop)

    def latent_size(self, latent: torch.Tensor) -> LatentSize:
        bits = math.log2(self.model.config.codebook_size) if self.latent == "codes" else PCM_BITS
        return tensor_size(latent, -1, bits)

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = self._input(audio)
        x = torch.nn.functional.pad(x, (0, (-x.shape[-1]) % self.hop))
        out = self.model.encode(x, n_quantizers=self.n_quantizers)
        if self.latent == "codes":
            return out.audio_codes[0, : self.n_quantizers].cpu()
        return out.quantized_representation[0].cpu()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        cfg = self.model.config
        if self.latent == "codes":
            codes = check_tensor(self, latent, self.n_quantizers, True, "integer codes")
            if codes.min() < 0 or codes.max() >= cfg.codebook_size:
                raise self._bad_latent(latent, f"codes in [0, {cfg.codebook_size})")
            y = self.model.decode(audio_codes=codes[None].long().to(self.device)).audio_values
        else:
            z = check_tensor(self, latent, int(self.latent_dim), False, "float z")
            y = self.model.decode(quantized_representation=z[None].float().to(self.device)).audio_values
        y = y.reshape(1, -1).cpu().numpy().astype(np.float32)
        return y if length is None else y[:, :length]
