"""Moûsai diffusion autoencoders v2/v3 (archinetai `dmae1d-ATC64-v2` / `dmae1d-ATC32-v3`), from a local folder.

Their model code lives in the hub repository itself (`trust_remote_code`), on top of
`audio-diffusion-pytorch` and `audio-encoders-pytorch`; place the whole repository folder (config.json,
the .py files, pytorch_model.bin) under the weights directory. 48 kHz stereo, 32 latent channels at
46.875 Hz (v2, 64x) or 93.75 Hz (v3, 32x). Decoding is a diffusion sampler: seeded; the Music2Latent2
paper does not state the number of steps, so `steps` is an explicit option.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from baselines.harness import seeded
from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import WeightsFile, register_weights, require_weights, sha256_of

_REPOS = {"v2": ("dmae1d-ATC64-v2", 1024), "v3": ("dmae1d-ATC32-v3", 512)}
WEIGHTS = {
    v: register_weights(WeightsFile(
        name=f"mousai-{v}", filename=f"{repo}/pytorch_model.bin",
        url=f"https://huggingface.co/archinetai/{repo}/resolve/main/pytorch_model.bin",
        licence="MIT (archinetai)", used_by=f"baselines: mousai-{v}"))
    for v, (repo, _) in _REPOS.items()
}
PACKAGES = (
    Package("transformers", "transformers"),
    Package("audio_diffusion_pytorch", "audio-diffusion-pytorch==0.0.94 audio-encoders-pytorch",
            "the hub code was written against early 2023 releases"),
)


class MousaiAE(Autoencoder):
    stochastic = True

    @classmethod
    def requirements_for(cls, version: str = "v2", **_) -> Requirement:
        return Requirement(packages=PACKAGES, weights=(WEIGHTS[version].name,),
                           note=f"the folder {_REPOS[version][0]}/ also needs the repository's config.json and .py files")

    def __init__(self, version: str = "v2", weights_path: str | Path | None = None, steps: int = 50,
                 seed: int | None = 0, device: str = "cpu"):
        if version not in _REPOS:
            raise M2L2Error(f"unknown Moûsai version {version!r} (option version): use v2 or v3")
        for pkg in PACKAGES:
            import_optional(pkg)
        from transformers import AutoModel

        path = require_weights(WEIGHTS[version].name, weights_path)
        self.model = AutoModel.from_pretrained(str(path.parent), trust_remote_code=True).to(device).eval()
        self._provenance = Provenance(True, weights=WEIGHTS[version].name, path=str(path), sha256=sha256_of(path))
        self.device = torch.device(device)
        self.name = f"mousai-{version}"
        self.sample_rate = 48000
        self.channels = 2
        self.latent_rate = self.sample_rate / _REPOS[version][1]
        self.latent_dim = 32
        self.steps = int(steps)
        self.seed = seed

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        hop = int(self.sample_rate / self.latent_rate)
        x = torch.from_numpy(np.asarray(audio, dtype=np.float32))[None]
        x = torch.nn.functional.pad(x, (0, (-x.shape[-1]) % hop)).to(self.device)
        return self.model.encode(x)[0].cpu()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        with seeded(self.seed):
            y = self.model.decode(latent[None].to(self.device), num_steps=self.steps)[0].cpu().numpy()
        return y if length is None else y[:, :length]
