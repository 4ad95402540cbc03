"""Musika's autoencoder (Pasini & Schlüter, ISMIR 2022), rebuilt in PyTorch and loaded from its Keras .h5 files.

The published files (`enc.h5`, `enc2.h5`, `dec.h5`, `dec2.h5` in the hub repo marcop/musika_ae) hold Keras
*weights only*; Musika's TensorFlow 2.x scripts rebuild the graphs in code. Rather than pin a 2022-era
TensorFlow, this module re-implements the four networks in PyTorch and reads the weights with h5py, so the
adapter runs wherever the rest of the benchmark runs. Pipeline, per channel, at 44.1 kHz (hop 256):

    STFT (periodic Hann 1024, hop 256, no centring) -> power in dB -> (dB + 25) / 75
    enc : per-frame MLP 513 -> 1024 (x5, swish) -> 64, tanh         -> 64 values per STFT frame (172 Hz)
    enc2: 16 frames -> strided convs -> 64, tanh                    -> the latent: 64 values at 10.77 Hz
    dec2: 4 latents -> 64 frames of enc's output (transposed convs)
    dec : 64 frames -> normalised log-magnitude and phase / pi (U-Net, two heads), both clipped to [-1, 1]
    inverse STFT with the decoded phase (no Griffin-Lim)

4096 samples become 64 values: 64x per channel. The decoders inject Gaussian noise (StyleGAN-style, learnt
per-layer scale), so decoding is seeded. The architecture follows the public marcoppasini/musika code
(models.py / utils.py, whose default hop/shape/rescale arguments are copied into `MusikaConfig`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.adapters.musika_net import (  # noqa: F401 (the port's names, importable from the adapter)
    FRAMES_PER_LATENT,
    LATENTS_PER_DEC2,
    NETWORKS,
    ConvBlock,
    MusikaConfig,
    spectrogram,
    waveform,
)
from baselines.adapters.musika_weights import (  # noqa: F401
    HUB,
    PACKAGE,
    PARTS,
    WEIGHTS,
    load_keras_weights,
    missing_message,
    read_keras_h5,
    weights_folder,
)
from baselines.harness import seeded
from baselines.interface import Autoencoder, Provenance, Requirement, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import find_weights, sha256_of

# --- the adapter -----------------------------------------------------------------------------------


class MusikaAE(Autoencoder):
    requirements = Requirement(packages=(PACKAGE,), weights=tuple(w.name for w in WEIGHTS.values()))
    stochastic = True  # the decoders add learnt-scale Gaussian noise

    def __init__(
        self,
        weights_dir: str | Path | None = None,
        random_init: bool = False,
        channels: int = 1,
        seed: int | None = 0,
        device: str = "cpu",
        batch_size: int = 64,
        config: MusikaConfig | None = None,
    ):
        self.cfg = cfg = config or MusikaConfig()
        self.device = torch.device(device)
        nets = {part: build(cfg) for part, build in NETWORKS.items()}
        if random_init:
            self._provenance = Provenance(False, note="random initialisation (tests only)")
        else:
            paths = self._find_files(weights_dir)
            import_optional(PACKAGE)
            digests = []
            for part, net in nets.items():
                load_keras_weights(net, read_keras_h5(paths[part]), str(paths[part]))
                digests.append(f"{part}.h5:{sha256_of(paths[part])}")
            combined = hashlib.sha256("\n".join(digests).encode()).hexdigest()
            self._provenance = Provenance(True, weights="musika-ae (enc, enc2, dec, dec2)",
                                          path=str(paths["enc"].parent), sha256=combined,
                                          note="sha256 over the four files' digests; " + "; ".join(digests))
        self.nets = nn.ModuleDict(nets).to(self.device).eval()
        self.name = "musika"
        self.sample_rate = cfg.sample_rate
        self.channels = int(channels)
        self.latent_rate = cfg.sample_rate / cfg.samples_per_latent
        self.latent_dim = cfg.latdepth * self.channels
        self.seed = seed
        self.batch_size = int(batch_size)

    @staticmethod
    def _find_files(folder: str | Path | None) -> dict[str, Path]:
        if folder is not None:
            base = Path(folder).expanduser()
            paths = {p: base / f"{p}.h5" for p in PARTS}
            missing = [p for p in PARTS if not paths[p].is_file()]
        else:
            base = weights_folder()
            found = {p: find_weights(WEIGHTS[p].name) for p in PARTS}
            missing = [p for p in PARTS if found[p] is None]
            paths = {p: f for p, f in found.items() if f is not None}
        if missing:
            raise M2L2Error(missing_message(missing, base))
        return paths

    def _batched(self, net: nn.Module, x: torch.Tensor) -> list:
        return [net(x[i : i + self.batch_size]) for i in range(0, x.shape[0], self.batch_size)]

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> np.ndarray:
        """float32 [C, N] -> latent [C, latdepth, T], T = 8 * ceil((N - 768) / 32768) (one vector per 4096 samples)."""
        cfg = self.cfg
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
        chunk = 8 * cfg.samples_per_latent  # Musika encodes 128-frame pieces: 8 latents
        pieces = max(1, -(-max(x.shape[-1] - cfg.edge, 0) // chunk))
        x = F.pad(x, (0, cfg.edge + pieces * chunk - x.shape[-1]))
        c = x.shape[0]
        spec = spectrogram(x, cfg)  # [C, bins, 128 * pieces]
        frames = torch.cat(self._batched(self.nets["enc"], spec), 0)  # [C, hop/4, F]
        groups = frames.reshape(c, -1, frames.shape[-1] // FRAMES_PER_LATENT, FRAMES_PER_LATENT)
        groups = groups.permute(0, 2, 1, 3).reshape(-1, groups.shape[1], FRAMES_PER_LATENT)
        lat = torch.cat(self._batched(self.nets["enc2"], groups), 0)  # [C * T, latdepth, 1]
        return lat.reshape(c, -1, cfg.latdepth).transpose(1, 2).cpu().numpy()

    @torch.no_grad()
    def decode(self, latent: np.ndarray, length: int | None = None) -> np.ndarray:
        cfg = self.cfg
        z = torch.as_tensor(np.asarray(latent, dtype=np.float32), device=self.device)
        c, d, t = z.shape
        z = F.pad(z, (0, -t % LATENTS_PER_DEC2))
        groups = z.reshape(c, d, -1, LATENTS_PER_DEC2).permute(0, 2, 1, 3).reshape(-1, d, LATENTS_PER_DEC2)
        with seeded(self.seed):
            frames = torch.cat(self._batched(self.nets["dec2"], groups), 0)  # [G, hop/4, 64]
            outs = self._batched(self.nets["dec"], frames)
        mag = torch.cat([m for m, _ in outs], 0)
        phase = torch.cat([p for _, p in outs], 0)

        def join(s: torch.Tensor) -> torch.Tensor:  # [C * G, bins, 64] -> [C, bins, G * 64]
            return s.reshape(c, -1, s.shape[1], s.shape[2]).permute(0, 2, 1, 3).reshape(c, s.shape[1], -1)

        y = torch.clamp(waveform(join(mag), join(phase), cfg), -1.0, 1.0).cpu().numpy().astype(np.float32)
        return y if length is None else y[:, :length]

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Mean over time of the latent (the representation Musika's generator is trained on), channels stacked."""
        return self.encode(audio).mean(-1).reshape(-1)

