"""The user-facing Music2Latent2 autoencoder: parallel chunk encoding, autoregressive two-step decoding."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from m2l2 import spectral
from m2l2.audio import resample
from m2l2.config import ModelConfig
from m2l2.decoding import DEFAULT_SIGMA_COND, Decoding
from m2l2.decoding import decode as run_decoding
from m2l2.errors import M2L2Error
from m2l2.model import ConsistencyModel, Decoder, Encoder

DECODE_MODES = ("autoregressive", "parallel")  # the modes of Music2Latent2.decode (m2l2.decoding has more)


class Music2Latent2(nn.Module):
    """Encoder, decoder and consistency model with the user-facing encode/decode/embed.

    CPU speed: `model.to(memory_format=torch.channels_last)` runs the convolutions channels-last (same
    outputs within float error; on a 2-core AVX-512 EPYC, paper-config decoding of 3 s went from RTF 4.46
    to 3.28 against upstream Music2Latent's 2.89 in the same run; tools/profile_inference.py profiles it).
    """

    sample_rate = spectral.SAMPLE_RATE

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.consistency = ConsistencyModel(config)

    # --- sizes -------------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return self.config.channels

    @property
    def chunk_samples(self) -> int:
        return self.config.chunk_frames * spectral.HOP

    @property
    def train_samples(self) -> int:
        """Waveform length of one training example: two chunks without padding (67,072 for 64 frames)."""
        return spectral.frames_to_samples(2 * self.config.chunk_frames)

    @property
    def latent_values_per_chunk(self) -> int:
        length, dim = self.config.latent_shape
        return length * dim

    @property
    def compression_ratio(self) -> float:
        """Audio samples (all channels) per latent value."""
        return self.chunk_samples * self.channels / self.latent_values_per_chunk

    @property
    def chunk_rate(self) -> float:
        """Chunks per second (1.35 at 44.1 kHz with 64-frame chunks)."""
        return self.sample_rate / self.chunk_samples

    @property
    def latent_rate(self) -> float:
        """Latent vectors per second: L per chunk (≈10.8 Hz for K = 8 summary embeddings)."""
        return self.config.latent_shape[0] * self.chunk_rate

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- input handling ----------------------------------------------------------------------------
    def _prepare(self, audio, sample_rate: int) -> torch.Tensor:
        """[N] | [C, N] | [B, C, N] (NumPy or torch) at any rate → float32 [B, channels, N] at 44.1 kHz."""
        if isinstance(audio, np.ndarray):
            audio = torch.from_numpy(np.ascontiguousarray(audio))
        if not isinstance(audio, torch.Tensor):
            raise M2L2Error(f"audio must be a NumPy array or torch tensor, got {type(audio).__name__}")
        if audio.ndim == 1:
            audio = audio[None, None]
        elif audio.ndim == 2:
            audio = audio[None]
        elif audio.ndim != 3:
            raise M2L2Error(f"audio must have shape [N], [C, N] or [B, C, N]; got {tuple(audio.shape)}")
        if audio.shape[-1] == 0:
            raise M2L2Error("audio is empty")
        audio = audio.float()
        if sample_rate != self.sample_rate:
            arr = audio.cpu().numpy()
            audio = torch.from_numpy(
                np.stack([resample(x, sample_rate, self.sample_rate) for x in arr])
            )
        c = audio.shape[1]
        if c != self.channels:
            if self.channels == 1:
                audio = audio.mean(1, keepdim=True)
            elif c == 1:
                audio = audio.expand(-1, self.channels, -1)
            else:
                raise M2L2Error(f"cannot feed {c}-channel audio to a {self.channels}-channel model")
        return audio.to(self.device)

    def _chunk_specs(self, audio: torch.Tensor) -> tuple[torch.Tensor, int]:
        """[B, C, N] → spectrogram chunks [B, T, 2C, 1024, chunk_frames]."""
        padded, chunks = spectral.pad_for_chunks(audio, self.config.chunk_frames)
        spec = spectral.to_spec(padded)  # [B, 2C, F, T·frames]
        b, c2, f, _ = spec.shape
        spec = spec.reshape(b, c2, f, chunks, self.config.chunk_frames).permute(0, 3, 1, 2, 4)
        return spec, chunks

    def _batched_chunks(self, audio: torch.Tensor, max_batch: int) -> Iterator[torch.Tensor]:
        spec, _ = self._chunk_specs(audio)
        flat = spec.flatten(0, 1)
        for i in range(0, len(flat), max_batch):
            yield flat[i : i + max_batch]

    # --- public API --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, audio, sample_rate: int = spectral.SAMPLE_RATE, max_batch: int = 32) -> torch.Tensor:
        """Audio of any length → latents [B, T, L, D]; all chunks encoded in parallel, `max_batch` at a time."""
        x = self._prepare(audio, sample_rate)
        spec, chunks = self._chunk_specs(x)
        flat = spec.flatten(0, 1)
        out = torch.cat([self.encoder(flat[i : i + max_batch]) for i in range(0, len(flat), max_batch)])
        return out.reshape(len(x), chunks, *out.shape[1:])

    @torch.no_grad()
    def embed(self, audio, sample_rate: int = spectral.SAMPLE_RATE, max_batch: int = 32) -> torch.Tensor:
        """MIR feature [B, L·width]: tokens before the encoder's last linear layer, stacked, averaged over chunks."""
        x = self._prepare(audio, sample_rate)
        spec, chunks = self._chunk_specs(x)
        flat = spec.flatten(0, 1)
        feats = torch.cat(
            [self.encoder.features(flat[i : i + max_batch]).flatten(1) for i in range(0, len(flat), max_batch)]
        )
        return feats.reshape(len(x), chunks, -1).mean(1)

    @torch.no_grad()
    def decode(
        self,
        latents: torch.Tensor,
        sigma_cond: float = DEFAULT_SIGMA_COND,
        steps: int = 1,
        length: int | None = None,
        generator: torch.Generator | None = None,
        redecode_previous: bool = True,
        progress: bool = False,
        mode: str = "autoregressive",
        max_batch: int = 8,
    ) -> torch.Tensor:
        """Latents [B, T, L, D] → audio [B, C, N] at 44.1 kHz.

        `mode="autoregressive"` (the paper, Sec. IV-4): the first chunk is decoded alone from pure noise; each
        later chunk is decoded together with the previous one, re-noised to `sigma_cond`, whose new output
        replaces its first version (two-step decoding at no extra cost). `redecode_previous=False` keeps the
        first version (one-step decoding). Memory holds one chunk's decoder features at a time.

        `mode="parallel"` (not in the paper; CoDiCodec's idea): every chunk is first decoded alone, then each
        chunk t ≥ 1 is decoded with its left neighbour's first version re-noised to `sigma_cond` (the
        autoregressive step, all pairs at once); chunk 0 is its re-decoded version from the pair (0, 1), or
        its first version with `redecode_previous=False`. Both passes run over windows of `max_batch` chunks
        (at most 2·`max_batch` chunk evaluations at a time: flat memory for long audio). The noise is drawn
        per chunk in the autoregressive order, so up to two chunks decode exactly as autoregressively; with
        more, a chunk's context is its neighbour's independent decode instead of its context-conditioned one.

        `steps` > 1 adds consistency sampling steps per chunk. The algorithms live in m2l2.decoding.
        """
        if mode not in DECODE_MODES:
            raise M2L2Error(f"mode must be 'autoregressive' or 'parallel', got {mode!r}")
        decoding = Decoding(mode, sigma_cond, steps, redecode_previous, max_batch)
        return run_decoding(self, latents, decoding, length, generator, progress)

    @torch.no_grad()
    def reconstruct(self, audio, sample_rate: int = spectral.SAMPLE_RATE, **decode_options) -> torch.Tensor:
        """Encode then decode audio of any rate → [B, C, N] at 44.1 kHz, exactly the input's duration
        (`decode` alone cannot know it: latents cover whole chunks). `decode_options` go to `decode`."""
        x = self._prepare(audio, sample_rate)  # at 44.1 kHz: its length is the output's
        return self.decode(self.encode(x), length=x.shape[-1], **decode_options)

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.named_children()}
