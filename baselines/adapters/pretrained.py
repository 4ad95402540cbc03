"""What the adapters on maintained libraries share: hub weights, measured latent layout, input and latent checks.

Each such adapter builds its network from the library's own config class (`from_pretrained` for weights
resolved by `baselines.hub`, or the config alone with `random_init=True` for tests), then measures its latent
layout by encoding silence (`baselines.latent.measure`), so the compression ratio it reports comes from the
latent tensors it really returns.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from baselines import hub
from baselines.interface import Autoencoder, Provenance
from baselines.latent import LatentLayout, LatentSize, measure, shape_with_t
from m2l2.errors import M2L2Error

RANDOM_NOTE = "random initialisation (tests only)"


class PretrainedAE(Autoencoder):
    """Base of the hub-backed adapters; subclasses set `licence` and implement `latent_size`."""

    licence: ClassVar[str] = ""
    layout: LatentLayout | None = None
    time_axis: ClassVar[int] = -1  # the latent axis that runs over frames (for the printed shape)

    def _weights(self, entry: hub.HubWeights, local_dir: Any, revision: str | None, download: bool | None,
                 random_init: bool) -> hub.Resolved | None:
        """The resolved files, or None (and random-weights provenance) with random_init."""
        self.hub_entry = entry
        if random_init:
            self._provenance = Provenance(False, note=RANDOM_NOTE)
            return None
        return hub.resolve(entry, local_dir, revision, download)

    def _pretrained(self, found: hub.Resolved, weights_file: str) -> None:
        self._provenance = Provenance(True, weights=found.label, path=str(found.path(weights_file)),
                                      sha256=found.sha256(weights_file), note=f"licence: {found.entry.licence}")

    def latent_size(self, latent: Any) -> LatentSize:
        raise NotImplementedError

    def shape_text(self, shape: tuple[int, ...]) -> str:
        """How `m2l2 baselines list` and result files write one latent's shape (time axis as T)."""
        return shape_with_t(shape, self.time_axis)

    def _measure(self, unit: int, units: tuple[int, int] = (2, 3)) -> LatentLayout:
        """Set latent_rate, latent_dim and bits_per_value from two encodes of silence (see baselines.latent)."""
        layout = measure(self.encode, self.latent_size, self.channels, self.sample_rate, int(unit), units,
                         shape=self.shape_text)
        self.layout = layout
        self.latent_rate = layout.frame_rate
        self.latent_dim = layout.values_per_frame
        self.bits_per_value = layout.bits_per_value
        return layout

    def _input(self, audio: np.ndarray) -> torch.Tensor:
        """float32 [C, N] → [1, C, N] on the model's device, refusing a channel count the model was not built for."""
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise M2L2Error(f"{self.name}: encode takes [{self.channels}, N] audio at {self.sample_rate} Hz, "
                            f"got shape {x.shape} (audio argument): pass the audio through "
                            "baselines.reconstruct, which converts channels and rate")
        return torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device)

    def _input_whole_hops(self, audio: np.ndarray) -> torch.Tensor:
        """`_input`, zero-padded on the right to a whole number of the encoder's hops (`self.hop`)."""
        x = self._input(audio)
        return torch.nn.functional.pad(x, (0, (-x.shape[-1]) % self.hop))

    def _decode_sample(self, latent: torch.Tensor, channels: int, length: int | None) -> np.ndarray:
        """A diffusers VAE's decode of one float latent [channels, T] → float32 [C, N], cut to `length`."""
        z = check_tensor(self, latent, channels, False, "float latent")
        y = self.model.decode(z[None].float().to(self.device)).sample[0].cpu().numpy().astype(np.float32)
        return y if length is None else y[:, :length]

    def _bad_latent(self, got: Any, expected: str) -> M2L2Error:
        shape = tuple(got.shape) if hasattr(got, "shape") else type(got).__name__
        dtype = f" {got.dtype}" if hasattr(got, "dtype") else ""
        return M2L2Error(
            f"{self.name}: decode got a latent of shape {shape}{dtype}, expected {expected} (latent "
            "argument): decode the output of this adapter's encode with the same options"
        )

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["licence"] = self.licence
        if self.layout is not None:
            out["latent_shape"] = self.layout.shape
        return out


def check_tensor(ae: PretrainedAE, latent: Any, rows: int, integer: bool, what: str) -> torch.Tensor:
    """A [rows, T] tensor of the right kind, or the adapter's one-line error."""
    t = torch.as_tensor(latent) if isinstance(latent, np.ndarray | torch.Tensor) else None
    ok = t is not None and t.ndim == 2 and t.shape[0] == rows and t.shape[1] > 0
    if ok and integer != (not torch.is_floating_point(t)):
        ok = False
    if not ok:
        raise ae._bad_latent(latent, f"{what} [{rows}, T]")
    return t
