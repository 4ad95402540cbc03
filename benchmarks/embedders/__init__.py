"""Embedding models for Fréchet audio distance: one protocol, a registry keyed by FAD metric name.

An embedder has `name`, `sample_rate` (the rate it wants), `identity()` (a string that changes whenever
its weights or preprocessing change: part of every cache key and of the provenance of every number) and
`embed(audio)`, which takes mono float32 [N] at `sample_rate` and returns float embeddings [frames, D].
Embedders are built lazily: importing this package registers the weights files but loads no model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from m2l2.errors import M2L2Error
from m2l2.weights import WEIGHTS, WeightsFile, find_weights, register_weights, require_weights


@runtime_checkable
class Embedder(Protocol):
    name: str
    sample_rate: int

    def identity(self) -> str: ...

    def embed(self, audio: np.ndarray) -> np.ndarray: ...


class WeightsMissingError(M2L2Error):
    """A weights file is not on disk; `filename` is what the user has to fetch."""

    def __init__(self, message: str, filename: str):
        super().__init__(message)
        self.filename = filename


_CLAP_URL = "https://huggingface.co/lukewys/laion_clap/resolve/main/"

register_weights(
    WeightsFile(
        name="vggish",
        filename="vggish-10086976.pth",
        url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
        sha256="10086976",
        licence="Apache-2.0",
        used_by="fad-vggish",
    )
)
register_weights(
    WeightsFile(
        name="clap-laion-music",
        filename="music_audioset_epoch_15_esc_90.14.pt",
        url=_CLAP_URL + "music_audioset_epoch_15_esc_90.14.pt",
        licence="CC0-1.0 (LAION-CLAP)",
        used_by="fad-clap (checkpoint=music, default)",
    )
)
register_weights(
    WeightsFile(
        name="clap-laion-audio",
        filename="630k-audioset-best.pt",
        url=_CLAP_URL + "630k-audioset-best.pt",
        licence="CC0-1.0 (LAION-CLAP)",
        used_by="fad-clap (checkpoint=audioset)",
    )
)


def weights_path(name: str, path: str | Path | None = None) -> Path:
    """Like `require_weights`, but the error is a WeightsMissingError carrying the file name."""
    if find_weights(name, path) is None:
        filename = Path(path).name if path is not None else WEIGHTS[name].filename
        try:
            require_weights(name, path)
        except M2L2Error as e:
            raise WeightsMissingError(str(e), filename) from None
    return require_weights(name, path)


def _vggish(**options: Any) -> Embedder:
    from benchmarks.embedders.vggish import VGGishEmbedder

    return VGGishEmbedder(**options)


def _clap(**options: Any) -> Embedder:
    from benchmarks.embedders.clap import CLAPEmbedder

    return CLAPEmbedder(**options)


def _musicnn(**options: Any) -> Embedder:
    try:
        module = importlib.import_module("benchmarks.embedders.musicnn")
    except ImportError as e:
        raise M2L2Error(
            f"the MusiCNN embedder is not available, {e} (benchmarks.embedders.musicnn): install what the "
            "import names"
        ) from e
    return module.MusiCNNEmbedder(**options)


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "fad-vggish": _vggish,
    "fad-clap": _clap,
    "fad-musicnn": _musicnn,
}


def available_embedders() -> list[str]:
    """The FAD metric names that have an embedder (whether or not its weights are present)."""
    return sorted(EMBEDDERS)


def get_embedder(metric_name: str, **options: Any) -> Embedder:
    """Build the embedder for a FAD metric ("fad-vggish", "fad-clap", "fad-musicnn").

    Raises M2L2Error (WeightsMissingError for absent weights files) when it cannot be built here.
    """
    if metric_name not in EMBEDDERS:
        raise M2L2Error(
            f"unknown FAD metric {metric_name!r} (metrics): use one of {', '.join(available_embedders())}"
        )
    return EMBEDDERS[metric_name](**options)
