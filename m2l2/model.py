"""Music2Latent2's three networks: encoder with summary embeddings, decoder, consistency model.

All convolutional parts work on independent chunks (chunks stacked on the batch axis); only the
consistency model's transformer sees two consecutive chunks, with chunked causal attention.
"""

from __future__ import annotations

import torch
from torch import nn

from m2l2 import edm
from m2l2.config import ModelConfig
from m2l2.layers import NoiseEmbedding, ResBlock, Transformer, group_norm


class Patchifier(nn.Module):
    """Spectrogram chunk → token grid [B, dim, F', T'] through levels of residual blocks and strided convs.

    `cross` (decoder features, one per level) are added at the start of each level; the output of every
    level is returned for the de-patchifier's additive skips.
    """

    def __init__(self, cfg: ModelConfig, in_channels: int, cond_dim: int | None):
        super().__init__()
        ch = cfg.level_channels
        self.stem = nn.Conv2d(in_channels, ch[0], 3, padding=1)
        self.levels = nn.ModuleList(
            nn.ModuleList(ResBlock(c, cond_dim, cfg.groups_for(c), cfg.dropout) for _ in range(n))
            for c, n in zip(ch, cfg.level_blocks)
        )
        self.down = nn.ModuleList(
            nn.Conv2d(ch[i], ch[i + 1], kernel_size=tuple(f), stride=tuple(f))
            for i, f in enumerate(cfg.down_factors)
        )

    def forward(self, x, cond=None, cross=None, stem_gain=None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`stem_gain` multiplies the stem's features: [B, 1, F, 1] (frequency scaling) and/or [B, C, F, T]
        (the cross gain)."""
        h = self.stem(x)
        if stem_gain is not None:
            h = h * stem_gain
        skips = []
        for i, blocks in enumerate(self.levels):
            if i > 0:
                h = self.down[i - 1](h)
            if cross is not None:
                h = h + cross[i]
            for block in blocks:
                h = block(h, cond)
            skips.append(h)
        return h, skips


class Depatchifier(nn.Module):
    """Token grid → full resolution, mirroring the patchifier; returns the feature map of every level."""

    def __init__(self, cfg: ModelConfig, cond_dim: int | None):
        super().__init__()
        ch = cfg.level_channels
        self.levels = nn.ModuleList(
            nn.ModuleList(ResBlock(c, cond_dim, cfg.groups_for(c), cfg.dropout) for _ in range(n))
            for c, n in zip(ch, cfg.level_blocks)
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(ch[i + 1], ch[i], kernel_size=tuple(f), stride=tuple(f))
            for i, f in enumerate(cfg.down_factors)
        )

    def forward(self, h, cond=None, skips=None) -> list[torch.Tensor]:
        features: list[torch.Tensor] = [None] * len(self.levels)  # type: ignore[list-item]
        for i in reversed(range(len(self.levels))):
            if i < len(self.levels) - 1:
                h = self.up[i](h)
            if skips is not None:
                h = h + skips[i]
            for block in self.levels[i]:
                h = block(h, cond)
            features[i] = h
        return features


def grid_to_tokens(h: torch.Tensor) -> torch.Tensor:
    """[B, D, F', T'] → [B, T'·F', D], time-major so that each time step's tokens are contiguous."""
    return h.permute(0, 3, 2, 1).flatten(1, 2)


def tokens_to_grid(tokens: torch.Tensor, freqs: int, times: int) -> torch.Tensor:
    b, _, d = tokens.shape
    return tokens.reshape(b, times, freqs, d).permute(0, 3, 2, 1)


class Encoder(nn.Module):
    """Chunk → K summary embeddings (TiTok-style learned latent tokens) or ordered per-time-step latents."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.patchifier = Patchifier(cfg, 2 * cfg.channels, None)
        self.pos = nn.Parameter(torch.randn(cfg.tokens_per_chunk, cfg.dim) * 0.02)
        if cfg.latent_kind == "summary":
            self.latent_tokens = nn.Parameter(torch.randn(cfg.num_latents, cfg.dim) * 0.02)
            self.to_latent = nn.Linear(cfg.dim, cfg.latent_dim)
        else:
            self.to_latent = nn.Linear(cfg.token_freqs * cfg.dim, cfg.latent_shape[1])
        self.transformer = Transformer(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_mult, dropout=cfg.dropout)

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        """The representation before the last linear layer: [B, L, width] (used for MIR embeddings)."""
        h, _ = self.patchifier(spec)
        tokens = grid_to_tokens(h) + self.pos
        if self.cfg.latent_kind == "summary":
            tokens = torch.cat([tokens, self.latent_tokens.expand(len(tokens), -1, -1)], dim=1)
            return self.transformer(tokens)[:, -self.cfg.num_latents :]
        out = self.transformer(tokens)
        return out.reshape(len(out), self.cfg.token_times, -1)  # tokens of one time step side by side

    def pre_tanh(self, spec: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(spec))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """[B, 2C, 1024, chunk_frames] → latents [B, L, D] in (-1, 1)."""
        return torch.tanh(self.pre_tanh(spec))


class Decoder(nn.Module):
    """Latents → cross-connection features at every resolution of the consistency model's patchifier."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.pos = nn.Parameter(torch.randn(cfg.tokens_per_chunk, cfg.dim) * 0.02)
        if cfg.latent_kind == "summary":
            self.from_latent = nn.Linear(cfg.latent_dim, cfg.dim)
            self.latent_pos = nn.Parameter(torch.randn(cfg.num_latents, cfg.dim) * 0.02)
            self.mask_token = nn.Parameter(torch.randn(cfg.dim) * 0.02)
        else:
            self.from_latent = nn.Linear(cfg.latent_shape[1], cfg.token_freqs * cfg.dim)
        self.transformer = Transformer(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_mult, dropout=cfg.dropout)
        self.depatchifier = Depatchifier(cfg, None)
        self.magnitude_head = nn.Conv2d(cfg.level_channels[0], cfg.channels, 1) if cfg.magnitude_head else None

    def forward(self, latents: torch.Tensor) -> list[torch.Tensor]:
        cfg, b = self.cfg, len(latents)
        if cfg.latent_kind == "summary":
            masks = (self.mask_token + self.pos).expand(b, -1, -1)
            summary = self.from_latent(latents) + self.latent_pos
            tokens = self.transformer(torch.cat([masks, summary], dim=1))[:, : cfg.tokens_per_chunk]
        else:
            tokens = self.from_latent(latents).reshape(b, cfg.tokens_per_chunk, cfg.dim) + self.pos
            tokens = self.transformer(tokens)
        return self.depatchifier(tokens_to_grid(tokens, cfg.token_freqs, cfg.token_times))

    def magnitude(self, cross: list[torch.Tensor]) -> torch.Tensor:
        """The auxiliary head's magnitude spectrogram [B, C, 1024, frames] from the full-resolution features."""
        if self.magnitude_head is None:
            raise ValueError("this decoder has no magnitude head (model.magnitude_head is false)")
        return self.magnitude_head(cross[0])


def frequency_gain(cond: int, bins: int = 1024) -> nn.Sequential:
    """Noise-level embedding → one gain offset per frequency bin, zero at initialisation (upstream's
    `scale_inp` / `scale_out`)."""
    mlp = nn.Sequential(nn.Linear(cond, cond), nn.SiLU(), nn.Linear(cond, bins))
    nn.init.zeros_(mlp[-1].weight)
    nn.init.zeros_(mlp[-1].bias)
    return mlp


def chunk_causal_mask(chunks: int, tokens: int, device: torch.device) -> torch.Tensor:
    """Boolean [chunks·tokens]² mask: a token attends to its own chunk and every earlier chunk."""
    idx = torch.arange(chunks, device=device).repeat_interleave(tokens)
    return idx[:, None] >= idx[None, :]


class ConsistencyModel(nn.Module):
    """f(x_σ, σ | cross) = c_skip(σ)·x_σ + c_out(σ)·F(c_in(σ)·x_σ, σ | cross), over 1 or 2 consecutive chunks."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        cond = cfg.dim
        self.noise_emb = NoiseEmbedding(cfg.noise_channels, cond)
        self.patchifier = Patchifier(cfg, 2 * cfg.channels, cond)
        self.pos = nn.Parameter(torch.randn(cfg.tokens_per_chunk, cfg.dim) * 0.02)
        self.chunk_pos = nn.Parameter(torch.randn(2, cfg.dim) * 0.02)
        self.transformer = Transformer(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_mult, cond, cfg.dropout, cfg.adaln)
        self.depatchifier = Depatchifier(cfg, cond)
        self.head = nn.Sequential(
            group_norm(cfg.level_channels[0], cfg.groups_for(cfg.level_channels[0])),
            nn.SiLU(),
            nn.Conv2d(cfg.level_channels[0], 2 * cfg.channels, 3, padding=1),
        )
        nn.init.zeros_(self.head[-1].weight)  # upstream: F starts at 0, so f(x, σ) = c_skip(σ)·x at step 0
        nn.init.zeros_(self.head[-1].bias)
        if cfg.frequency_scaling:
            self.scale_in, self.scale_out = frequency_gain(cond), frequency_gain(cond)

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, cross: list[torch.Tensor], last_only: bool = False
    ) -> torch.Tensor:
        """x: [B, n, 2C, 1024, frames] noisy chunks (n = 1 or 2, oldest first); sigma: [B, n]; cross: per
        level [B·n, C_l, F_l, T_l] (chunk-major within each batch item). Returns the denoised chunks, or with
        `last_only` only the newest one [B, 1, ...] (the older chunks then skip the de-patchifier: the
        attention is causal, so the newest chunk's output is the same)."""
        cfg = self.cfg
        b, n = x.shape[:2]
        flat_x, flat_s = x.flatten(0, 1), sigma.flatten().to(x.dtype)
        emb = self.noise_emb(flat_s)
        scale = edm.c_in(flat_s)[:, None, None, None]
        stem_gain = 1 + self.scale_in(emb)[:, None, :, None] if cfg.frequency_scaling else None
        h, skips = self.patchifier(flat_x * scale, emb, cross, stem_gain)
        tokens = grid_to_tokens(h) + self.pos  # [B·n, P, D]
        p = tokens.shape[1]
        tokens = (tokens.reshape(b, n, p, -1) + self.chunk_pos[:n, None]).reshape(b, n * p, -1)
        token_cond = emb.reshape(b, n, 1, -1).expand(b, n, p, -1).reshape(b, n * p, -1)
        mask = chunk_causal_mask(n, p, x.device) if n > 1 else None
        tokens = self.transformer(tokens, token_cond, mask).reshape(b * n, p, -1)
        if last_only and n > 1:
            def last(t: torch.Tensor) -> torch.Tensor:
                return t.unflatten(0, (b, n))[:, -1]

            tokens, emb, skips, flat_x, flat_s = last(tokens), last(emb), [last(k) for k in skips], last(flat_x), last(flat_s)
            cross = [last(c) for c in cross]
            n = 1
        grid = tokens_to_grid(tokens, cfg.token_freqs, cfg.token_times)
        feats = self.depatchifier(grid, emb, skips)
        f0 = self.head[1](self.head[0](feats[0]))
        if cfg.frequency_scaling:
            f0 = f0 * (1 + self.scale_out(emb)[:, None, :, None])
        out = self.head[2](f0)
        s = flat_s[:, None, None, None]
        denoised = edm.consistency_output(flat_x, s, out)
        return denoised.reshape(b, n, *x.shape[2:])

