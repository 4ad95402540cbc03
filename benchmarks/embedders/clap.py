"""LAION-CLAP audio embeddings (Wu et al., 2023) through the optional `laion-clap` package.

CLAP wants 48 kHz mono in 10-s windows (480,000 samples). Its own loader crops longer audio at a random
offset, so clips are cut here into deterministic windows first (`clap_windows`): every window handed to the
model is exactly 10 s long and is used as is. The checkpoint is a setting (default: the music checkpoint,
which fadtk calls clap-laion-music); its file name is part of `identity()` and thus of the provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2l2.errors import M2L2Error
from m2l2.io import sha256_file

SAMPLE_RATE = 48000
WINDOW = 10 * SAMPLE_RATE
WINDOWING_VERSION = "clap-windows-v1(10s,repeatpad,tail-aligned,int16-quantised)"


@dataclass(frozen=True)
class ClapCheckpoint:
    weights_name: str  # name in m2l2.weights
    filename: str
    audio_model: str  # laion_clap `amodel`


CHECKPOINTS = {
    "music": ClapCheckpoint("clap-laion-music", "music_audioset_epoch_15_esc_90.14.pt", "HTSAT-base"),
    "audioset": ClapCheckpoint("clap-laion-audio", "630k-audioset-best.pt", "HTSAT-tiny"),
}
DEFAULT_CHECKPOINT = "music"


def repeat_pad(x: np.ndarray, length: int) -> np.ndarray:
    """laion-clap's "repeatpad": tile the clip a whole number of times, then zero-pad to `length`."""
    if x.shape[0] == 0:
        return np.zeros(length, dtype=x.dtype)
    tiled = np.tile(x, length // x.shape[0])
    return np.pad(tiled, (0, length - tiled.shape[0]))


def clap_windows(audio: np.ndarray, window: int = WINDOW, hop: int | None = None) -> np.ndarray:
    """[N] → [W, window] deterministic windows.

    Short clips: one repeat-padded window. Longer clips: windows every `hop` samples (default: `window`,
    i.e. non-overlapping) plus one aligned to the end when the last window would leave a tail uncovered.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    hop = window if hop is None else hop
    if hop <= 0:
        raise ValueError("hop must be positive")
    if x.shape[0] <= window:
        return repeat_pad(x, window)[None]
    starts = list(range(0, x.shape[0] - window + 1, hop))
    if starts[-1] + window < x.shape[0]:
        starts.append(x.shape[0] - window)
    return np.stack([x[s : s + window] for s in starts])


def quantise_int16(x: np.ndarray) -> np.ndarray:
    """Round-trip through int16, as laion-clap's examples do before embedding."""
    q = (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
    return (q / 32767.0).astype(np.float32)


def _load_laion_clap(
    checkpoint: ClapCheckpoint, path: Path, device: str
) -> Callable[[np.ndarray], np.ndarray]:
    try:
        import laion_clap
    except Exception as e:  # ImportError; also RuntimeError/OSError from a torchvision built for another torch
        why = str(e).splitlines()[0] if str(e) else ""
        raise M2L2Error(
            f"fad-clap needs the optional `laion-clap` package, {type(e).__name__}: {why} (laion_clap): "
            "pip install 'm2l2[clap]' (it requires numpy<2 and a torchvision built for your torch)"
        ) from e
    model = laion_clap.CLAP_Module(enable_fusion=False, amodel=checkpoint.audio_model, device=device)
    try:
        model.load_ckpt(str(path), verbose=False)
    except RuntimeError as e:
        # transformers >= 4.31 dropped a buffer that the published checkpoints still hold.
        if "position_ids" not in str(e):
            raise
        import torch

        state = torch.load(str(path), map_location="cpu", weights_only=False)
        state = state.get("state_dict", state)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state.pop("text_branch.embeddings.position_ids", None)
        model.model.load_state_dict(state)
    model.eval()

    def run(windows: np.ndarray) -> np.ndarray:
        return np.asarray(model.get_audio_embedding_from_data(x=windows, use_tensor=False), dtype=np.float32)

    return run


class CLAPEmbedder:
    """FAD embedder: 48-kHz mono audio → [windows, 512] CLAP audio embeddings, one per 10-s window."""

    name = "clap"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        checkpoint: str = DEFAULT_CHECKPOINT,
        weights_path: str | Path | None = None,
        hop_seconds: float = 10.0,
        device: str = "cpu",
        batch_size: int = 8,
        model: Callable[[np.ndarray], np.ndarray] | None = None,
        weights_tag: str | None = None,
    ):
        """`model` (a function [W, 480000] → [W, D], with a `weights_tag`) replaces laion-clap, e.g. in tests."""
        if checkpoint not in CHECKPOINTS:
            raise M2L2Error(
                f"unknown CLAP checkpoint {checkpoint!r} (option checkpoint): use one of "
                f"{', '.join(CHECKPOINTS)}"
            )
        self.checkpoint = CHECKPOINTS[checkpoint]
        if model is None:
            from benchmarks.embedders import weights_path as find

            path = find(self.checkpoint.weights_name, weights_path)
            model = _load_laion_clap(self.checkpoint, path, device)
            weights_tag = f"{path.name}:sha256={sha256_file(path)[:16]}"
        elif weights_tag is None:
            raise ValueError("give `weights_tag` (what the model's weights are) with `model`")
        self.model = model
        self.hop = int(round(hop_seconds * SAMPLE_RATE))
        self.batch_size = batch_size
        self._weights_tag = weights_tag

    def identity(self) -> str:
        return f"clap|{self.checkpoint.audio_model}|{self._weights_tag}|{WINDOWING_VERSION}|hop={self.hop}"

    def embed(self, audio: np.ndarray) -> np.ndarray:
        windows = quantise_int16(clap_windows(audio, WINDOW, self.hop))
        out = [
            self.model(windows[i : i + self.batch_size]) for i in range(0, windows.shape[0], self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32)
