"""The user-facing Music2Latent2 autoencoder: parallel chunk encoding, autoregressive two-step decoding."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import soxr
import torch
from torch import nn

from m2l2 import spectral
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
    def _as_batch(self, audio) -> torch.Tensor:
        """[N] | [C, N] | [B, C, N] (NumPy or torch) → float32 [B, channels, N] at the input's rate. Mixing to
        the model's channels comes first, so resampling works on as few channels as the model needs."""
        if isinstance(audio, np.ndarray):
            audio = torch.from_numpy(np.ascontiguousarray(audio))
        if not isinstance(audio, torch.Tensor):
            raise M2L2Error(
                f"unsupported audio type {type(audio).__name__} (audio argument): pass a NumPy array or "
                "torch tensor"
            )
        if audio.ndim == 1:
            audio = audio[None, None]
        elif audio.ndim == 2:
            audio = audio[None]
        elif audio.ndim != 3:
            raise M2L2Error(
                f"unsupported audio shape {tuple(audio.shape)} (audio argument): give [N], [C, N] or "
                "[B, C, N]"
            )
        if audio.shape[-1] == 0:
            raise M2L2Error("audio is empty (audio argument): give at least one sample")
        audio = audio.float()
        c = audio.shape[1]
        if c != self.channels:
            if self.channels == 1:
                audio = audio.mean(1, keepdim=True)
            elif c == 1:
                audio = audio.expand(-1, self.channels, -1)
            else:
                raise M2L2Error(
                    f"cannot feed {c}-channel audio to a {self.channels}-channel model (audio argument): "
                    f"give mono or {self.channels}-channel audio"
                )
        return audio

    def _prepare(self, audio, sample_rate: int) -> torch.Tensor:
        """[N] | [C, N] | [B, C, N] at any rate → float32 [B, channels, N] at 44.1 kHz, in memory."""
        x = self._as_batch(audio)
        if sample_rate == self.sample_rate:
            return x.to(self.device)
        return torch.cat(list(self._at_model_rate(_split(x), sample_rate)), dim=-1).to(self.device)

    def _at_model_rate(self, blocks: Iterable[torch.Tensor], sample_rate: int) -> Iterator[torch.Tensor]:
        """Consecutive [B, C, n] blocks at `sample_rate` → consecutive blocks at 44.1 kHz (as given when no
        resampling is needed; soxr's streaming HQ resampler otherwise, which gives exactly its one-shot
        output)."""
        if sample_rate == self.sample_rate:
            yield from blocks
            return
        streams = None
        for block, last in _flag_last(blocks):
            arr = block.cpu().numpy()
            if streams is None:
                streams = [soxr.ResampleStream(sample_rate, self.sample_rate, arr.shape[1], dtype="float32",
                                               quality="HQ") for _ in range(len(arr))]
            parts = [s.resample_chunk(np.ascontiguousarray(x.T), last=last).T for s, x in zip(streams, arr)]
            yield torch.from_numpy(np.ascontiguousarray(np.stack(parts)))

    def _chunk_windows(self, blocks: Iterator[torch.Tensor], max_batch: int) -> Iterator[torch.Tensor]:
        """44.1-kHz sample blocks [B, C, n] → spectrogram chunks in windows of ≈ `max_batch` chunk-items, each
        [B·k, 2C, 1024, chunk_frames], item-major as `flatten(0, 1)` of [B, T, ...] orders them.

        The input is padded as `spectral.pad_for_chunks` pads it, and each window's STFT is computed from its
        own samples (the STFT has no padding: frames [a, b) need samples [a·hop, (b − 1)·hop + window)), so
        memory is that of a window whatever the input's length (one STFT of an hour took 11 GB)."""
        frames = self.config.chunk_frames
        buf, n, per_window = None, 0, None
        for block in blocks:
            if buf is None:
                per_window = max(1, max_batch // len(block))
                buf = block.new_zeros((*block.shape[:2], spectral.LEFT_PAD))
            buf, n = torch.cat([buf, block.to(self.device)], dim=-1), n + block.shape[-1]
            need = spectral.frames_to_samples(per_window * frames)
            while buf.shape[-1] >= need:
                yield self._window_spec(buf[..., :need], per_window)
                buf = buf[..., per_window * frames * spectral.HOP :]
        chunks = max(1, -(-n // (frames * spectral.HOP)))  # as pad_for_chunks counts them
        done = (n + spectral.LEFT_PAD - buf.shape[-1]) // (frames * spectral.HOP)
        left = chunks - done
        if left > 0:
            tail = torch.nn.functional.pad(buf, (0, spectral.frames_to_samples(left * frames) - buf.shape[-1]))
            for c0 in range(0, left, per_window):
                k = min(per_window, left - c0)
                start = c0 * frames * spectral.HOP
                yield self._window_spec(tail[..., start : start + spectral.frames_to_samples(k * frames)], k)

    def _window_spec(self, samples: torch.Tensor, k: int) -> torch.Tensor:
        """[B, C, samples of k chunks] → [B·k, 2C, 1024, chunk_frames]."""
        spec = spectral.to_spec(samples)  # [B, 2C, F, k·frames]
        b, c2, f, _ = spec.shape
        return spec.reshape(b, c2, f, k, self.config.chunk_frames).permute(0, 3, 1, 2, 4).flatten(0, 1)

    def _per_chunk(self, blocks: Iterator[torch.Tensor], sample_rate: int, max_batch: int, fn) -> torch.Tensor:
        """`fn` of every chunk of the audio in `blocks` (consecutive [B, C, n] at any rate), a window of chunks
        at a time → [B, T, ...] in chunk order."""
        first = next(blocks)
        windows = self._chunk_windows(self._at_model_rate(itertools.chain([first], blocks), sample_rate), max_batch)
        return torch.cat([fn(w).unflatten(0, (len(first), -1)) for w in windows], dim=1)

    # --- public API --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, audio, sample_rate: int = spectral.SAMPLE_RATE, max_batch: int = 32) -> torch.Tensor:
        """Audio of any length → latents [B, T, L, D]; chunks encoded in parallel, about `max_batch` at a time,
        with memory bounded by a window of chunks whatever the length."""
        return self._per_chunk(_split(self._as_batch(audio)), sample_rate, max_batch, self.encoder)

    @torch.no_grad()
    def encode_blocks(self, blocks: Iterable, sample_rate: int = spectral.SAMPLE_RATE, max_batch: int = 32
                      ) -> torch.Tensor:
        """`encode` of audio given as consecutive blocks ([C, n] or [B, C, n], NumPy or torch; e.g. from
        `m2l2.audio.read_blocks`): memory is a block and a window of chunks, whatever the length. The latents
        equal `encode`'s of the whole audio."""
        batched = (self._as_batch(b) for b in blocks)
        try:
            return self._per_chunk(batched, sample_rate, max_batch, self.encoder)
        except StopIteration:
            raise M2L2Error(
                "audio is empty, no blocks (blocks argument): give at least one sample"
            ) from None

    @torch.no_grad()
    def embed(self, audio, sample_rate: int = spectral.SAMPLE_RATE, max_batch: int = 32) -> torch.Tensor:
        """MIR feature [B, L·width]: tokens before the encoder's last linear layer, stacked, averaged over chunks."""
        feats = self._per_chunk(_split(self._as_batch(audio)), sample_rate, max_batch,
                                lambda w: self.encoder.features(w).flatten(1))
        return feats.mean(1)

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
            raise M2L2Error(
                f"unknown decoding mode {mode!r} (mode argument): use 'autoregressive' or 'parallel'"
            )
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


def _split(audio: torch.Tensor, block: int = 1 << 18) -> Iterator[torch.Tensor]:
    """[B, C, N] → consecutive views [B, C, ≤ block]."""
    return (audio[..., i : i + block] for i in range(0, audio.shape[-1], block))


def _flag_last(items: Iterable) -> Iterator[tuple[object, bool]]:
    """(item, is it the last one) for each item: a streaming resampler must be told which block ends the input."""
    it = iter(items)
    try:
        item = next(it)
    except StopIteration:
        return
    for following in it:
        yield item, False
        item = following
    yield item, True
