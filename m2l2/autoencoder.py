"""The user-facing Music2Latent2 autoencoder: parallel chunk encoding, autoregressive two-step decoding."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from m2l2 import edm, spectral
from m2l2.audio import resample
from m2l2.config import ModelConfig
from m2l2.errors import M2L2Error
from m2l2.model import ConsistencyModel, Decoder, Encoder

DEFAULT_SIGMA_COND = 0.4  # noise level of the re-decoded previous chunk: the paper's best (its Fig. 3)
DECODE_MODES = ("autoregressive", "parallel")  # see Music2Latent2.decode


class Music2Latent2(nn.Module):
    """Encoder, decoder and consistency model with the user-facing encode/decode/embed.

    CPU speed: `model.to(memory_format=torch.channels_last)` runs the convolutions channels-last (same
    outputs within float error; on a 2-core AVX-512 EPYC, paper-config decoding of 3 s went from RTF 4.46
    to 3.28 against upstream Music2Latent's 2.89 in the same run; scripts/profile_inference.py profiles it).
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

        `steps` > 1 adds consistency sampling steps per chunk.
        """
        cfg = self.config
        if latents.ndim == 3:
            latents = latents[None]
        if latents.ndim != 4 or tuple(latents.shape[2:]) != cfg.latent_shape:
            raise M2L2Error(
                f"latents must have shape [B, T, {cfg.latent_shape[0]}, {cfg.latent_shape[1]}]; "
                f"got {tuple(latents.shape)}"
            )
        if steps < 1:
            raise M2L2Error("steps must be at least 1")
        if mode not in DECODE_MODES:
            raise M2L2Error(f"mode must be 'autoregressive' or 'parallel', got {mode!r}")
        if max_batch < 1:
            raise M2L2Error("max_batch must be at least 1")
        latents = latents.to(self.device, torch.float32)
        b, chunks = latents.shape[:2]
        frames = cfg.chunk_frames
        ola = spectral.OverlapAdd((b, cfg.channels), chunks * frames)

        def commit(chunk: torch.Tensor, index: int) -> None:  # a chunk's final version → waveform buffer
            ola.add(spectral.from_rep(chunk).cpu(), index * frames)

        sampler = _Sampler(self, b, steps, sigma_cond, generator)
        if mode == "parallel":
            self._decode_parallel(latents, sampler, commit, redecode_previous, max_batch, progress)
        else:
            self._decode_autoregressive(latents, sampler, commit, redecode_previous, progress)
        wave = ola.result().clamp_(-1.0, 1.0)
        n = chunks * self.chunk_samples if length is None else length
        return spectral.unpad(wave, n)

    def _decode_autoregressive(self, latents, sampler: _Sampler, commit, redecode_previous: bool, progress: bool):
        chunks = latents.shape[1]
        cross_prev = self.decoder(latents[:, 0])
        _, prev = sampler.run(None, cross_prev, *sampler.draw(first=True))
        for t in tqdm(range(1, chunks), desc="decoding chunks", disable=not progress, initial=1, total=chunks):
            cross_cur = self.decoder(latents[:, t])  # computed once per chunk, reused as cross_prev next step
            new_prev, current = sampler.run(prev, _pair(cross_prev, cross_cur), *sampler.draw(first=False),
                                            last_only=not redecode_previous)
            commit(new_prev if redecode_previous else prev, t - 1)
            prev, cross_prev = current, cross_cur
        commit(prev, chunks - 1)

    def _decode_parallel(self, latents, sampler: _Sampler, commit, redecode_previous: bool, max_batch: int,
                         progress: bool):
        """Windows of up to `max_batch` chunks: decode them alone, then each with its left neighbour."""
        b, chunks = latents.shape[:2]
        left_first = left_cross = None  # the last chunk of the previous window: its first version, its features
        for i in tqdm(range(0, chunks, max_batch), desc="decoding chunk batches", disable=not progress):
            idx = range(i, min(i + max_batch, chunks))
            w = len(idx)
            draws = [sampler.draw(first=t == 0) for t in idx]  # per chunk, in the autoregressive order
            cross = self.decoder(latents[:, i : i + w].flatten(0, 1))  # [b·w, ...] item-major
            cur_noise = [torch.stack([d[0][k] for d in draws], 1).flatten(0, 1) for k in range(sampler.steps)]
            _, first = sampler.run(None, cross, cur_noise, None, batch=b * w)  # every chunk alone
            first = first.unflatten(0, (b, w))
            cross = [c.unflatten(0, (b, w)) for c in cross]
            if i == 0:
                if chunks == 1:
                    commit(first[:, 0], 0)
                    return
                if not redecode_previous:
                    commit(first[:, 0], 0)
            else:
                first = torch.cat([left_first, first], 1)
                cross = [torch.cat([lc, c], 1) for lc, c in zip(left_cross, cross)]
            pairs = [t for t in idx if t > 0]  # chunk t with its left neighbour t − 1
            if pairs:
                off = 1 if i > 0 else 0  # position of chunk i in `first`/`cross`
                pos = [t - i + off for t in pairs]
                left = [p - 1 for p in pos]
                pair_cross = _pair([c[:, left].flatten(0, 1) for c in cross], [c[:, pos].flatten(0, 1) for c in cross])
                prev = first[:, left].flatten(0, 1)
                k_range = range(sampler.steps)
                pair_draws = [draws[t - i] for t in pairs]
                cur = [torch.stack([d[0][k] for d in pair_draws], 1).flatten(0, 1) for k in k_range]
                prv = [torch.stack([d[1][k] for d in pair_draws], 1).flatten(0, 1) for k in k_range]
                if pairs[0] == 1 and redecode_previous:  # chunk 0 has no left neighbour: its re-decoded version
                    def pair01(t: torch.Tensor, per: int = 1) -> torch.Tensor:
                        return t.unflatten(0, (b, -1, per))[:, 0].flatten(0, 1)

                    new_prev, _ = sampler.run(pair01(prev), [pair01(c, 2) for c in pair_cross],
                                              [pair01(c) for c in cur], [pair01(c) for c in prv])
                    commit(new_prev, 0)
                _, current = sampler.run(prev, pair_cross, cur, prv, batch=b * len(pairs), last_only=True)
                current = current.unflatten(0, (b, -1))
                for j, t in enumerate(pairs):
                    commit(current[:, j], t)
            left_first = first[:, -1:]
            left_cross = [c[:, -1:] for c in cross]

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.named_children()}


def _pair(prev: list[torch.Tensor], cur: list[torch.Tensor]) -> list[torch.Tensor]:
    """Cross-connections of (previous, current) chunk pairs, chunk-major within each item: [B·2, ...]."""
    return [torch.stack([p, c], 1).flatten(0, 1) for p, c in zip(prev, cur)]


class _Sampler:
    """Consistency sampling of single chunks or (previous, current) pairs, shared by both decoding modes.

    The noise of a chunk is drawn by `draw` in one fixed order (per step: the current chunk, then the
    re-noised previous one), so that both modes see the same noise for the same chunk.
    """

    def __init__(self, model: Music2Latent2, batch: int, steps: int, sigma_cond: float, generator):
        cfg = model.config
        self.model, self.b, self.steps, self.generator = model, batch, steps, generator
        self.shape = (batch, 2 * cfg.channels, spectral.FREQ_BINS, cfg.chunk_frames)
        self.levels = edm.sigma_of_t(torch.linspace(1.0, 0.0, steps + 1)[:-1]).tolist()
        self.s_cond = max(float(sigma_cond), edm.SIGMA_MIN)

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.shape, generator=self.generator, device="cpu").to(self.model.device)

    def draw(self, first: bool) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """Noise of one chunk per step: for the current chunk, and (unless `first`) for its re-noised left one."""
        cur, prev = [], []
        for _ in range(self.steps):
            cur.append(self._noise())
            if not first:
                prev.append(self._noise())
        return cur, (None if first else prev)

    def run(self, prev, cross, cur_noise, prev_noise, batch: int | None = None, last_only: bool = False):
        """(new version of `prev` or None, current chunk) for `batch` items (default: the decode batch);
        `last_only` skips computing the new version of `prev` (returned as None)."""
        b = self.b if batch is None else batch
        current, new_prev = None, None
        for k, s in enumerate(self.levels):
            if k == 0:
                x_cur = cur_noise[k] * s
            else:
                x_cur = current + cur_noise[k] * (s**2 - edm.SIGMA_MIN**2) ** 0.5
            if prev is None:
                x, sig = x_cur[:, None], torch.full((b, 1), s)
            else:
                x_prev = prev + prev_noise[k] * (self.s_cond**2 - edm.SIGMA_MIN**2) ** 0.5
                x = torch.stack([x_prev, x_cur], dim=1)
                sig = torch.tensor([[self.s_cond, s]]).expand(b, 2)
            out = self.model.consistency(x, sig.to(x.device), cross, last_only=last_only)
            current = out[:, -1]
            new_prev = out[:, 0] if prev is not None and not last_only else None
        return new_prev, current
