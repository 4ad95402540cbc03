"""The one interface every compared autoencoder implements, so the benchmark treats them all alike.

Adapters work on float32 numpy audio `[C, N]` at their *native* sample rate and channel count; the harness
(`baselines.harness`) does resampling, channel conversion and length alignment around them.

Compression ratio convention (the Music2Latent/Music2Latent2 papers' one, made explicit):

    compression_ratio = (sample_rate * channels * 16) / (latent_rate * latent_dim * bits_per_value)

i.e. the bits of 16-bit PCM at the native rate and channel count divided by the bits of the latent,
where a continuous latent value counts as one 16-bit word (`bits_per_value = 16`, the default). For
continuous autoencoders this is "input samples per latent value": Music2Latent2 mono turns 32,768
samples into 8 x 64 values = 64x, Music2Latent turns 4096 samples into 64 values = 64x, Stable Audio's
VAE turns 2 x 2048 stereo samples into 64 values = 64x. For bit streams (Opus, MP3, RVQ codes) the
same formula with `bits_per_value = 1` (or log2 of the codebook size) gives the bit-rate ratio:
705.6 kbps / 11.025 kbps = 64x.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

PCM_BITS = 16


@dataclass(frozen=True)
class Package:
    """An optional Python package an adapter imports lazily."""

    module: str  # import name, e.g. "music2latent"
    pip: str  # what to install, e.g. "music2latent>=0.1.6" or "m2l2[baselines]"
    note: str = ""  # known problems on some machines (e.g. "imports torchaudio at module level")


@dataclass(frozen=True)
class Provenance:
    """Where an adapter's weights came from. The benchmark refuses to report rows with pretrained=False."""

    pretrained: bool
    weights: str | None = None  # registered weights name (m2l2.weights) or a description
    path: str | None = None
    sha256: str | None = None
    note: str = ""


@dataclass
class Requirement:
    """What an adapter needs: packages to import and weights files; `paper_only` entries have no code."""

    packages: tuple[Package, ...] = ()
    weights: tuple[str, ...] = ()  # names registered with m2l2.weights.register_weights
    hub: tuple[str, ...] = ()  # names registered with baselines.hub.register_hub (files in the hub cache)
    paper_only: bool = False
    required_args: tuple[str, ...] = ()  # options the user must pass (e.g. a checkpoint path)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def import_optional(pkg: Package) -> Any:
    """Import an optional package or raise M2L2Error saying what to install (and known pitfalls)."""
    from m2l2.errors import M2L2Error

    try:
        return importlib.import_module(pkg.module)
    except Exception as e:  # ImportError, but also e.g. OSError from broken torchaudio binaries
        hint = f" ({pkg.note})" if pkg.note else ""
        why = str(e).splitlines()[0] if str(e) else ""
        raise M2L2Error(
            f"package cannot be imported, {type(e).__name__}: {why} ({pkg.module}): "
            f"install it with `pip install {pkg.pip}`{hint}"
        ) from e


def compression_ratio(
    sample_rate: float, channels: int, latent_rate: float, latent_dim: float, bits_per_value: float = PCM_BITS
) -> float:
    """16-bit PCM bits per second at (sample_rate, channels) over latent bits per second."""
    return (sample_rate * channels * PCM_BITS) / (latent_rate * latent_dim * bits_per_value)


class Autoencoder(abc.ABC):
    """An audio autoencoder as the benchmark sees it.

    Subclasses set the attributes (in `__init__` when they depend on options) and implement
    `encode`/`decode`. `embed` is optional (for MIR probing). `requirements` (a class attribute) lets
    `m2l2 baselines list` say what is missing without constructing the adapter.
    """

    name: str = "autoencoder"
    sample_rate: int = 44100  # native rate of encode's input and decode's output
    channels: int = 1  # native channel count
    latent_rate: float = 0.0  # latent frames per second
    latent_dim: int = 0  # values per latent frame, over all channels
    bits_per_value: float = PCM_BITS  # how many bits one latent value is counted as
    stochastic: bool = False  # decode (or encode) draws noise; `seed` makes it repeatable
    requirements: ClassVar[Requirement] = Requirement()

    @classmethod
    def requires(cls, **args: Any) -> list[str]:
        """What is missing here to build this adapter with pretrained weights: packages, weights files, options."""
        from m2l2.weights import find_weights

        fn = getattr(cls, "requirements_for", None)
        req = fn(**args) if callable(fn) else cls.requirements
        missing = [f"option {a}=..." for a in req.required_args if a not in args]
        for pkg in req.packages:
            try:
                importlib.import_module(pkg.module)
            except Exception:
                missing.append(f"package {pkg.module} (pip install {pkg.pip})")
        missing += [f"weights {w}" for w in req.weights if find_weights(w) is None]
        if req.hub:
            from baselines import hub

            missing += [f"weights {w} (`{hub.HUB[w].fetch_command()}`)" for w in req.hub
                        if hub.status(hub.HUB[w]) != "cached"]
        return missing

    @property
    def stereo(self) -> bool:
        return self.channels == 2

    @property
    def compression_ratio(self) -> float:
        """Computed from rates and sizes (see module docstring), never typed in."""
        return compression_ratio(
            self.sample_rate, self.channels, self.latent_rate, self.latent_dim, self.bits_per_value
        )

    @property
    def provenance(self) -> Provenance:
        """Adapters set `self._provenance` where they load (or randomly initialise) weights, or override this;
        an adapter that does neither counts as not pretrained, so its rows never reach result tables."""
        prov = getattr(self, "_provenance", None)
        return prov if isinstance(prov, Provenance) else Provenance(False, note="adapter does not declare its weights")

    @property
    def pretrained(self) -> bool:
        return self.provenance.pretrained

    @abc.abstractmethod
    def encode(self, audio: np.ndarray) -> Any:
        """float32 [channels, N] at sample_rate → latent (any type the matching decode accepts)."""

    @abc.abstractmethod
    def decode(self, latent: Any, length: int | None = None) -> np.ndarray:
        """Latent → float32 [channels, M] at sample_rate; trimmed to `length` samples when the adapter can."""

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Optional clip-level feature vector [D] for probing; adapters without one raise NotImplementedError."""
        raise NotImplementedError(f"{self.name} has no embedding")

    @property
    def has_embed(self) -> bool:
        return type(self).embed is not Autoencoder.embed

    def info(self) -> dict[str, Any]:
        """A plain dict describing this instance (for result files)."""
        prov = self.provenance
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "stereo": self.stereo,
            "latent_rate": self.latent_rate,
            "latent_dim": self.latent_dim,
            "bits_per_value": self.bits_per_value,
            "compression_ratio": self.compression_ratio,
            "stochastic": self.stochastic,
            "pretrained": prov.pretrained,
            "weights": prov.weights,
            "weights_sha256": prov.sha256,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, sr={self.sample_rate}, channels={self.channels}, "
            f"compression={self.compression_ratio:.1f}x, pretrained={self.pretrained})"
        )
