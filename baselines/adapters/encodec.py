"""EnCodec 24 kHz mono / 48 kHz stereo (`encodec` package), weights from local files.

The latent is the RVQ code matrix [n_q, T'] (10 bits per code); n_q follows the target bandwidth
(6 kbps by default: 64x of 16-bit 24 kHz mono). The 48 kHz model also sends one scale per 1 s segment,
which the ratio leaves out (16 bits/s). `encodec` imports torchaudio at module level.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import WeightsFile, register_weights, require_weights, sha256_of

_FILES = {"24khz": "encodec_24khz-d7cc33bc.th", "48khz": "encodec_48khz-7e698e3e.th"}
WEIGHTS = {
    v: register_weights(
        WeightsFile(
            name=f"encodec-{v}",
            filename=f,
            url=f"https://dl.fbaipublicfiles.com/encodec/v0/{f}",
            sha256=f.split("-")[1].split(".")[0],  # EnCodec's file names carry a sha256 prefix
            licence="MIT",
            used_by=f"baselines: encodec-{v}",
        )
    )
    for v, f in _FILES.items()
}
PACKAGE = Package("encodec", "encodec>=0.1.1", "imports torchaudio, which must match the installed torch")


class EncodecAE(Autoencoder):
    stochastic = False

    @classmethod
    def requirements_for(cls, variant: str = "24khz", **_) -> Requirement:
        return Requirement(packages=(PACKAGE,), weights=(WEIGHTS[variant].name,))

    def __init__(self, variant: str = "24khz", bandwidth: float = 6.0, weights_path: str | Path | None = None,
                 random_init: bool = False, device: str = "cpu"):
        if variant not in WEIGHTS:
            raise M2L2Error(f"unknown EnCodec variant {variant!r}; use 24khz or 48khz")
        encodec = import_optional(PACKAGE)
        factory = getattr(encodec.EncodecModel, f"encodec_model_{variant}")
        if random_init:
            model = factory(pretrained=False)
            self._provenance = Provenance(False, note="random initialisation (tests only)")
        else:
            path = require_weights(WEIGHTS[variant].name, weights_path)
            if path.name != _FILES[variant]:
                raise M2L2Error(f"EnCodec looks its weights up by name: rename {path} to {_FILES[variant]}")
            model = factory(pretrained=True, repository=path.parent)
            self._provenance = Provenance(True, weights=WEIGHTS[variant].name, path=str(path),
                                          sha256=sha256_of(path))
        model.set_target_bandwidth(float(bandwidth))
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.name = f"encodec-{variant}"
        self.sample_rate = int(model.sample_rate)
        self.channels = int(model.channels)
        self.latent_rate = float(model.frame_rate)
        self.bits_per_value = math.log2(model.quantizer.bins)
        self.latent_dim = int(round(bandwidth * 1000 / (self.latent_rate * self.bits_per_value)))

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> list:
        x = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None].to(self.device)
        return self.model.encode(x)  # list of (codes [1, n_q, T'], scale) per segment

    @torch.no_grad()
    def decode(self, latent: list, length: int | None = None) -> np.ndarray:
        y = self.model.decode(latent)[0].cpu().numpy()
        return y if length is None else y[:, :length]
