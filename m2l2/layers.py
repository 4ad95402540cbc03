"""Building blocks: noise-level embedding, convolutional residual blocks, (AdaLN) transformer blocks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class NoiseEmbedding(nn.Module):
    """σ → sinusoidal embedding of log(σ)/4 (256 channels) → MLP.

    The sinusoids take log(σ)/4 ∈ [−1.6, 1.1] directly, as upstream Music2Latent does: a large extra scale
    (an earlier version multiplied by 1000) makes neighbouring noise levels look unrelated, so the student
    at σ(t) and the teacher at σ(t − Δt) of consistency training see different conditioning."""

    def __init__(self, channels: int = 256, out_dim: int = 256):
        super().__init__()
        self.channels = channels
        self.mlp = nn.Sequential(nn.Linear(channels, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        x = torch.log(sigma.float().clamp_min(1e-20)) / 4
        half = self.channels // 2
        freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
        angles = x[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.sin(angles), torch.cos(angles)], dim=1))


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → 3×3 conv (+ noise-level projection) → GroupNorm → SiLU → dropout → 3×3 conv, residual."""

    def __init__(self, channels: int, cond_dim: int | None, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = group_norm(channels, groups)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = group_norm(channels, groups)
        self.cond = nn.Linear(cond_dim, channels) if cond_dim else None
        if self.cond is not None:  # zero-initialised as upstream: noise conditioning starts as a no-op
            nn.init.zeros_(self.cond.weight)
            nn.init.zeros_(self.cond.bias)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.cond is not None:
            h = h + self.cond(cond)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return x + h


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class TransformerBlock(nn.Module):
    """Pre-LN transformer block. With `adaptive`, AdaLN: per-token (scale, shift, gate) ×2 given as `mod`."""

    def __init__(self, dim: int, heads: int, mlp_mult: int, adaptive: bool = False, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not adaptive)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not adaptive)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_mult * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_mult * dim, dim)
        )

    def forward(
        self, x: torch.Tensor, mod: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mod is None:
            x = x + self.attn(self.norm1(x), mask)
            return x + self.mlp(self.norm2(x))
        s1, b1, g1, s2, b2, g2 = mod.chunk(6, dim=-1)
        x = x + (1 + g1) * self.attn(self.norm1(x) * (1 + s1) + b1, mask)
        return x + (1 + g2) * self.mlp(self.norm2(x) * (1 + s2) + b2)


class Transformer(nn.Module):
    """A stack of pre-LN blocks. With `cond_dim`, AdaLN noise conditioning of every block.

    `adaln="per_block"` is DiT's adaLN (one SiLU→Linear(cond, 6·dim) per block); `adaln="shared"` is
    PixArt-α's adaLN-single (one shared modulation plus a learned per-block offset), 6.3 M parameters
    fewer at the paper's size. Modulations are zero-initialised, so every block starts unmodulated.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        mlp_mult: int,
        cond_dim: int | None = None,
        dropout: float = 0.0,
        adaln: str = "shared",
    ):
        super().__init__()
        adaptive = cond_dim is not None
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, mlp_mult, adaptive, dropout) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.adaln = adaln if adaptive else None
        if adaln not in ("shared", "per_block"):
            raise ValueError(f"adaln must be 'shared' or 'per_block', got {adaln!r}")
        if self.adaln == "shared":
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))
            self.offsets = nn.Parameter(torch.zeros(depth, 6 * dim))
            modulators = [self.modulation[1]]
        elif self.adaln == "per_block":
            self.modulation = nn.ModuleList(
                nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim)) for _ in range(depth)
            )
            modulators = [m[1] for m in self.modulation]
        else:
            modulators = []
        for linear in modulators:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x, cond=None, mask=None):
        shared = self.modulation(cond) if self.adaln == "shared" else None
        for i, block in enumerate(self.blocks):
            if self.adaln == "shared":
                mod = shared + self.offsets[i]
            elif self.adaln == "per_block":
                mod = self.modulation[i](cond)
            else:
                mod = None
            x = block(x, mod, mask)
        return self.norm(x)
