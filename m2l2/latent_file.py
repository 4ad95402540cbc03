"""Latent files: safetensors holding `latents` [B, T, L, D] plus the metadata needed to decode them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from m2l2.errors import M2L2Error
from m2l2.io import atomic_path

FORMAT = "m2l2-latents"


def save_latents(path: str | Path, latents: torch.Tensor, meta: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        save_file({"latents": latents.contiguous().cpu()}, str(tmp), metadata={"format": FORMAT, "meta": json.dumps(meta)})


def load_latents(path: str | Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """The latents [B, T, L, D] and metadata of a latent file; a missing, damaged or foreign file, or latents
    that are not finite, are one error line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise M2L2Error(f"latent file not found ({path}): write one with `m2l2 encode`")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            if header.get("format") != FORMAT:
                raise M2L2Error(f"not an m2l2 latent file ({path}): write one with `m2l2 encode`")
            latents, meta = f.get_tensor("latents"), json.loads(header.get("meta", "{}"))
    except M2L2Error:
        raise
    except Exception as e:  # safetensors raises its own error types for cut or overwritten files
        detail = " ".join(str(e).split())[:160]
        raise M2L2Error(f"cannot read latent file, {detail} ({path}): encode the audio again") from None
    if latents.ndim != 4 or not latents.is_floating_point() or not torch.isfinite(latents).all():
        raise M2L2Error(
            f"damaged latent file: latents {tuple(latents.shape)} {latents.dtype}, expected finite [B, T, L, D] "
            f"floats ({path}): encode the audio again"
        )
    if not isinstance(meta, dict):
        raise M2L2Error(f"damaged latent file: its metadata is not a mapping ({path}): encode the audio again")
    return latents, meta
