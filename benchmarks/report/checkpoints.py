"""Which report rows come from a Music2Latent2 checkpoint that was trained only as a denoiser (Δt = 1
throughout, as the committed CPU-scale `tiny` checkpoints were).

Such a network returns the conditional mean of a chunk from one step, not a sample, so its reconstructions
are not what the paper's consistency model sounds like; a listener must be told. The answer is read from the
checkpoint's own sidecar (its training configuration), never from a row's label, so a renamed row or a
retrained checkpoint is marked correctly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m2l2.errors import M2L2Error

CARD = "MODEL_CARD.md"
# The options of `train:` that decide the consistency step Δt (m2l2.training.config.TrainConfig).
DELTA_T_OPTIONS = ("delta_t_start", "delta_t_end", "delta_schedule")


@dataclass(frozen=True)
class DenoiserCheckpoint:
    name: str  # the checkpoint's folder, e.g. "tiny-summary"
    card: Path | None  # its MODEL_CARD.md, when the folder has one


def _sidecar(entry: dict[str, Any]) -> Path | None:
    """The m2l2 sidecar behind a Table II entry's weights (its provenance path), or None for a row without
    m2l2 weights (codecs, other baselines) or whose files are gone."""
    from m2l2.checkpoint import resolve_checkpoint

    path = ((entry.get("identity") or {}).get("provenance") or {}).get("path")
    if not path or Path(path).suffix not in (".safetensors", ".json"):
        return None
    try:
        return resolve_checkpoint(path)
    except M2L2Error:
        return None


def _plain_denoising(train: dict[str, Any]) -> bool:
    """Whether a sidecar's `train:` mapping trained with Δt = 1 throughout; options it does not record take
    the defaults they had, which are consistency training."""
    from m2l2.training.config import TrainConfig

    delta_t = {k: train[k] for k in DELTA_T_OPTIONS if k in train}
    return TrainConfig.from_dict(delta_t).objective().plain_denoising


def denoiser_checkpoint(entry: dict[str, Any]) -> DenoiserCheckpoint | None:
    """The checkpoint of a Table II entry when it was trained as a denoiser only; None for any other row,
    and for a checkpoint whose sidecar records no training configuration (nothing to go by)."""
    sidecar = _sidecar(entry)
    if sidecar is None:
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        train = (meta.get("config") or {}).get("train")
        if not isinstance(train, dict) or not _plain_denoising(train):
            return None
    except (OSError, ValueError, AttributeError, M2L2Error):
        return None  # an unreadable sidecar: building the model for the excerpts says what is wrong
    card = sidecar.parent / CARD
    return DenoiserCheckpoint(sidecar.parent.name, card if card.is_file() else None)
