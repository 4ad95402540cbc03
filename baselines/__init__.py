"""Baseline autoencoders behind one interface, a registry with plug-ins, and the harness around them.

    import baselines
    ae = baselines.get("opus-11kbps")               # or "music2latent2:checkpoint=run/ema.safetensors"
    y = baselines.reconstruct(ae, audio, sr)        # same shape and rate as `audio`
    [i.name for i in baselines.available()]
"""

from baselines import adapters  # noqa: F401  (registers weights files)
from baselines.harness import embed, reconstruct
from baselines.interface import Autoencoder, Package, Provenance, Requirement
from baselines.registry import ENTRY_POINT_GROUP, add_yaml, get, parse_spec, specs
from baselines.status import AdapterInfo, available

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterInfo",
    "Autoencoder",
    "Package",
    "Provenance",
    "Requirement",
    "add_yaml",
    "available",
    "embed",
    "get",
    "parse_spec",
    "reconstruct",
    "specs",
]
