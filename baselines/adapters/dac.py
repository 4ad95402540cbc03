"""Descript Audio Codec 44 kHz (`descript-audio-codec`, import name `dac`), weights from a local file.

The latent is the RVQ code matrix [n_codebooks, T/512] (10 bits per code), so the compression ratio is
the code bit rate's: 705.6 kbps / (86.13 Hz x 9 x 10 bit) ≈ 91x. The Music2Latent2 paper lists DAC's
ratio as "N/A" (its continuous z is 1024-d at 86 Hz, larger than the input). `dac` imports torchaudio
at module level, so it cannot be imported where torchaudio is missing or does not match torch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.weights import WeightsFile, register_weights, require_weights, sha256_of

WEIGHTS = register_weights(
    WeightsFile(
        name="dac-44khz",
        filename="dac_44khz_8kbps_0.0.1.pth",
        url="https://github.com/descriptinc/descript-audio-codec/releases/download/0.0.1/weights.pth",
        licence="MIT",
        used_by="baselines: dac-44khz",
    )
)
PACKAGE = Package("dac", "descript-audio-codec>=1.0", "imports torchaudio, which must match the installed torch")


class DACAE(Autoencoder):
    requirements = Requirement(packages=(PACKAGE,), weights=(WEIGHTS.name,))
    stochastic = False

    def __init__(self, weights_path: str | Path | None = None, random_init: bool = False,
                 n_quantizers: int | None = None, device: str = "cpu"):
        dac = import_optional(PACKAGE)
        if random_init:
            model = dac.DAC()
            self._provenance = Provenance(False, note="random initialisation (tests only)")
        else:
            path = require_weights(WEIGHTS.name, weights_path)
            model = dac.DAC.load(str(path))
            self._provenance = Provenance(True, weights=WEIGHTS.name, path=str(path), sha256=sha256_of(path))
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.n_quantizers = int(n_quantizers or model.n_codebooks)
        self.name = "dac-44khz"
        self.sample_rate = int(model.sample_rate)
        self.channels = 1
        self.latent_rate = self.sample_rate / model.hop_length
        self.latent_dim = self.n_quantizers
        self.bits_per_value = math.log2(model.codebook_size)

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None].to(self.device)  # [1, 1, N]
        x = self.model.preprocess(x, self.sample_rate)
        _, codes, *_ = self.model.encode(x, n_quantizers=self.n_quantizers)
        return codes[0, : self.n_quantizers].cpu()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        z = self.model.quantizer.from_codes(latent[None].to(self.device))[0]
        y = self.model.decode(z)[0].cpu().numpy()
        return y if length is None else y[:, :length]
