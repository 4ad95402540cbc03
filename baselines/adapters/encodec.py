"""EnCodec 24 kHz mono / 48 kHz stereo through `transformers` (`EncodecModel`), weights from the hub cache.

Latents: `codes` (default), the RVQ codes at a target bandwidth, by default the paper-comparable 64x
(6 kbit/s for 24 kHz mono, 24 kbit/s for 48 kHz stereo); or `continuous`, the encoder's 128-d embedding
before quantisation, decoded without the quantiser. The 48 kHz model codes 1-s chunks with 1 % overlap and
sends one scale per chunk: both are in the latent, so the measured ratio counts them (63.3x at 24 kbit/s).
transformers' EnCodec needs no torchaudio, unlike the `encodec` package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import hub
from baselines.adapters.pretrained import PretrainedAE
from baselines.interface import PCM_BITS, Package, Requirement, import_optional
from baselines.latent import LatentLayout, LatentSize
from m2l2.errors import M2L2Error

LICENCE = "MIT (EnCodec code and weights, facebookresearch/encodec)"
PACKAGE = Package("transformers", "m2l2[hub-baselines]", "transformers >= 4.45 has EncodecModel")
# EncodecConfig's defaults are the 24 kHz model; the 48 kHz model's config.json differs in these fields.
ARCHITECTURES = {
    "24khz": {},
    "48khz": {"sampling_rate": 48000, "audio_channels": 2, "normalize": True, "chunk_length_s": 1.0,
              "overlap": 0.01, "target_bandwidths": [3.0, 6.0, 12.0, 24.0], "norm_type": "time_group_norm",
              "use_causal_conv": False},
}
PAPER_BANDWIDTH = {"24khz": 6.0, "48khz": 24.0}  # kbit/s giving 64x of 16-bit PCM (before chunk overhead)
WEIGHTS = {v: hub.register_hub(hub.HubWeights(
    name=f"encodec-{v}", repo_id=f"facebook/encodec_{v}", files=("config.json", "model.safetensors"),
    licence=LICENCE, used_by=f"baselines: encodec-{v}")) for v in ARCHITECTURES}
LATENTS = ("codes", "continuous")
SCALE_BITS = 16


@dataclass
class EncodecLatent:
    """Codes [chunks, n_q, T] (int) or embeddings [chunks, D, T] (float), one scale per chunk (48 kHz)."""

    frames: torch.Tensor
    scales: torch.Tensor | None
    last_pad: int = 0  # frames of padding at the end of the last chunk


def layout_for(config: Any, latent: str, bandwidth: float) -> LatentLayout:
    """The layout an EncodecConfig implies at a bandwidth (checked against measured latents by the tests)."""
    frame_rate = config.sampling_rate / config.hop_length  # frames per second of audio inside one chunk
    chunk = config.chunk_length
    overhead = (chunk / config.chunk_stride) if chunk else 1.0  # the overlap codes some samples twice
    scales_per_frame = (1.0 / math.ceil(chunk / config.hop_length)) if (chunk and config.normalize) else 0.0
    if latent == "codes":
        n_q = int(bandwidth * 1000 // (math.ceil(frame_rate) * config.codebook_nbits))
        bits = n_q * config.codebook_nbits + scales_per_frame * SCALE_BITS
        return LatentLayout(frame_rate * overhead, n_q + scales_per_frame, bits / (n_q + scales_per_frame),
                            f"codes [chunks, {n_q}, T]")
    dim = config.hidden_size
    return LatentLayout(frame_rate * overhead, dim + scales_per_frame, PCM_BITS, f"embeddings [chunks, {dim}, T]")


class EncodecAE(PretrainedAE):
    stochastic = False
    licence = LICENCE

    @classmethod
    def requirements_for(cls, variant: str = "24khz", **_: Any) -> Requirement:
        if variant not in WEIGHTS:
            raise M2L2Error(f"unknown EnCodec variant {variant!r} (option variant): use 24khz or 48khz")
        return Requirement(packages=(PACKAGE,), hub=(WEIGHTS[variant].name,))

    @classmethod
    def describe(cls, variant: str = "24khz", latent: str = "codes", bandwidth: float | None = None,
                 **_: Any) -> tuple[LatentLayout, int, int]:
        from transformers import EncodecConfig

        config = EncodecConfig(**ARCHITECTURES[variant])
        bw = float(bandwidth or PAPER_BANDWIDTH[variant])
        return layout_for(config, latent, bw), config.sampling_rate, config.audio_channels

    def __init__(self, variant: str = "24khz", latent: str = "codes", bandwidth: float | None = None,
                 local_dir: str | Path | None = None, revision: str | None = None, download: bool | None = None,
                 random_init: bool = False, config: dict | None = None, device: str = "cpu"):
        """`config` (EncodecConfig fields) changes the architecture with random_init, e.g. a smaller one for tests."""
        self.requirements_for(variant)
        if latent not in LATENTS:
            raise M2L2Error(
                f"encodec-{variant}: unknown latent {latent!r} (option latent): use one of {LATENTS}"
            )
        import_optional(PACKAGE)
        from transformers import EncodecConfig, EncodecModel

        found = self._weights(WEIGHTS[variant], local_dir, revision, download, random_init)
        if found is None:
            model = EncodecModel(EncodecConfig(**{**ARCHITECTURES[variant], **(config or {})}))
        else:
            model = EncodecModel.from_pretrained(str(found.path("config.json").parent), local_files_only=True)
            self._pretrained(found, "model.safetensors")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        cfg = model.config
        self.bandwidth = float(bandwidth or PAPER_BANDWIDTH[variant])
        if self.bandwidth not in cfg.target_bandwidths:
            raise M2L2Error(
                f"encodec-{variant}: bandwidth {self.bandwidth:g} kbit/s is not one of the model's bandwidths "
                f"(option bandwidth): use one of {list(cfg.target_bandwidths)}"
            )
        self.latent = latent
        self.name = f"encodec-{variant}" + ("-continuous" if latent == "continuous" else "")
        self.sample_rate = int(cfg.sampling_rate)
        self.channels = int(cfg.audio_channels)
        self._measure(cfg.chunk_stride or cfg.hop_length)

    def shape_text(self, shape: tuple[int, ...]) -> str:
        return f"{'codes' if self.latent == 'codes' else 'embeddings'} [chunks, {shape[1]}, T]"

    def latent_size(self, latent: EncodecLatent) -> LatentSize:
        chunks, rows, t = latent.frames.shape
        frames = chunks * t - latent.last_pad
        values = frames * rows
        bits = values * (self.model.config.codebook_nbits if self.latent == "codes" else PCM_BITS)
        n_scales = 0 if latent.scales is None else latent.scales.numel()
        return LatentSize(frames, values + n_scales, bits + n_scales * SCALE_BITS, (chunks, rows, t))

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> EncodecLatent:
        x = self._input(audio)
        if self.latent == "continuous":
            return self._encode_continuous(x)
        out = self.model.encode(x, bandwidth=self.bandwidth)
        scales = None if out.audio_scales[0] is None else torch.stack([s.reshape(()) for s in out.audio_scales])
        return EncodecLatent(out.audio_codes[:, 0].cpu(), None if scales is None else scales.cpu(),
                             int(out.last_frame_pad_length or 0))

    def _chunks(self, n: int) -> tuple[int, int]:
        cfg = self.model.config
        return (cfg.chunk_length or n), (cfg.chunk_stride or n)

    def _encode_continuous(self, x: torch.Tensor) -> EncodecLatent:
        """The library's chunk loop and normalisation with the quantiser left out."""
        length, stride = self._chunks(x.shape[-1])
        embs, scales = [], []
        for offset in range(0, x.shape[-1], stride):
            frame = x[..., offset : offset + length]
            if self.model.config.normalize:
                scale = frame.mean(1, keepdim=True).pow(2).mean(-1, keepdim=True).sqrt() + 1e-8
                frame = frame / scale
                scales.append(scale.reshape(()))
            embs.append(self.model.encoder(frame)[0])
        pad = embs[0].shape[-1] - embs[-1].shape[-1]
        embs[-1] = torch.nn.functional.pad(embs[-1], (0, pad))
        return EncodecLatent(torch.stack(embs).cpu(), torch.stack(scales).cpu() if scales else None, pad)

    def _check(self, latent: Any) -> EncodecLatent:
        integer = self.latent == "codes"
        ok = isinstance(latent, EncodecLatent) and latent.frames.ndim == 3
        if ok and integer == torch.is_floating_point(latent.frames):
            ok = False
        if ok and not integer and latent.frames.shape[1] != self.model.config.hidden_size:
            ok = False
        if ok and (latent.scales is None) == bool(self.model.config.normalize):
            ok = False
        if not ok:
            kind = "integer codes" if integer else f"float embeddings with {self.model.config.hidden_size} rows"
            raise self._bad_latent(getattr(latent, "frames", latent), f"an EncodecLatent of {kind} [chunks, n, T]")
        return latent

    @torch.no_grad()
    def decode(self, latent: EncodecLatent, length: int | None = None) -> np.ndarray:
        lat = self._check(latent)
        scales = [None] * lat.frames.shape[0] if lat.scales is None else [s.reshape(1, 1).to(self.device)
                                                                         for s in lat.scales]
        if self.latent == "codes":
            y = self.model.decode(lat.frames[:, None].to(self.device), scales, last_frame_pad_length=lat.last_pad)
            y = y.audio_values
        else:
            y = self._decode_continuous(lat, scales)
        y = y[0].cpu().numpy().astype(np.float32)
        return y if length is None else y[:, :length]

    def _decode_continuous(self, lat: EncodecLatent, scales: list) -> torch.Tensor:
        outs = []
        for i, (emb, scale) in enumerate(zip(lat.frames, scales)):
            if i == len(scales) - 1 and lat.last_pad > 0:
                emb = emb[..., : -lat.last_pad]
            out = self.model.decoder(emb[None].to(self.device))
            outs.append(out if scale is None else out * scale.view(-1, 1, 1))
        if len(outs) == 1:
            return outs[0]
        return self.model._linear_overlap_add(outs, self.model.config.chunk_stride or 1)
