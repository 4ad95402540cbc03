"""Musika's autoencoder: listed so tables and `baselines list` account for it, but NOT runnable from here.

Musika (Pasini & Schlüter 2022) ships TensorFlow 2.x scripts whose two-stage encoder/decoder .h5 files
need the repository's own layer code to load; no pip package wraps them. Running it means cloning the
Musika repository next to a TensorFlow install and writing an adapter (a plug-in, see the README) around
its encoder/decoder functions. Until then only the paper's numbers are available.
"""

from __future__ import annotations

import numpy as np

from baselines.interface import Autoencoder, Package, Requirement
from m2l2.errors import M2L2Error

PACKAGE = Package("tensorflow", "tensorflow (2.10-era; plus a clone of the Musika repository)",
                  "no adapter code yet: write a plug-in around Musika's scripts")


class MusikaAE(Autoencoder):
    requirements = Requirement(packages=(PACKAGE,), paper_only=True,
                               note="adapter not implemented: TensorFlow scripts only, no package")
    name = "musika"
    sample_rate = 44100
    channels = 1
    latent_rate = 44100 / 4096
    latent_dim = 64

    def __init__(self, **_):
        raise M2L2Error(
            "musika has no runnable adapter: its TensorFlow .h5 models need the Musika repository's own "
            "layer code. Register your own adapter as a plug-in (entry point m2l2.autoencoders or a YAML "
            "file) to include it; otherwise tables use the paper's numbers."
        )

    def encode(self, audio: np.ndarray):  # pragma: no cover - never constructed
        raise NotImplementedError

    def decode(self, latent, length=None):  # pragma: no cover
        raise NotImplementedError
