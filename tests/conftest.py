"""Fixtures shared by the test modules (test audio clips, micro Music2Latent2 checkpoints), and tests/ on
the import path so test modules import their shared helpers as `helpers_m2l2` (never as `tests.…`:
see tests/helpers_m2l2.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

def write_micro_checkpoint(folder: Path, kind: str = "summary") -> Path:
    """A micro untrained model saved as an m2l2 checkpoint at step 0 (step 0 marks it as random weights)."""
    import torch
    from helpers_m2l2 import MICRO_FAST

    import m2l2
    from m2l2.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = m2l2.build("tiny", [*MICRO_FAST, f"model.latent_kind={kind}"])
    save_checkpoint(folder, 0, model.state_dict(), config={"model": model.config.to_dict()})
    return folder


def write_tone_clips(
    folder: Path, n: int = 2, seconds: float = 0.6, sr: int = 44100, stereo: bool = False
) -> Path:
    """`n` clips clip0..clip{n-1} of distinct tones with a little noise. Mono: WAV, a steady tone. Stereo:
    FLAC, an amplitude-modulated tone whose channels differ by the noise's sign."""
    from m2l2.audio import save_audio

    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0 if stereo else 1)
    for i in range(n):
        if stereo:
            tone = (
                0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * (i + 1) * t))
            )
            noise = 0.05 * rng.standard_normal(t.size)
            save_audio(
                folder / f"clip{i}.flac", np.stack([tone + noise, tone - noise]).astype(np.float32), sr
            )
        else:
            x = 0.3 * np.sin(2 * np.pi * (330 + 110 * i) * t) + 0.02 * rng.standard_normal(t.size)
            save_audio(folder / f"clip{i}.wav", x[None].astype(np.float32), sr)
    return folder


@pytest.fixture
def micro_checkpoint() -> Callable[..., Path]:
    """Factory: `micro_checkpoint(folder, kind="summary")` writes a micro random-weights checkpoint."""
    return write_micro_checkpoint


@pytest.fixture
def tone_clips() -> Callable[..., Path]:
    """Factory: `tone_clips(folder, n, seconds, sr, stereo)` writes test clips and returns the folder."""
    return write_tone_clips
