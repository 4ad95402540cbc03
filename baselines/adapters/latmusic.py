"""LatMusic: no public code or weights, so it appears only with the Music2Latent2 paper's numbers.

`PAPER_ROWS` copies LatMusic's rows of Tables II and III of the Music2Latent2 paper (Pasini, Lattner, Fazekas);
result tables must mark them as quoted, not measured.
"""

from __future__ import annotations

import numpy as np

from baselines.interface import Autoencoder, Requirement
from m2l2.errors import M2L2Error

PAPER_ROWS = {
    "table_ii": {"compression": "64x", "stereo": False, "si_sdr": -27.32, "visqol": 3.95,
                 "fad_clap": 0.050, "fad": 1.630},
    "table_iii": {"mtat_auc_roc": 85.9, "mtat_auc_pr": 34.9, "beatport_micro": 37.4, "beatport_macro": 30.2,
                  "tinysol_pitch_micro_f1": 88.9, "tinysol_pitch_macro_f1": 88.8,
                  "tinysol_instr_micro_f1": 92.6, "tinysol_instr_macro_f1": 80.7},
    "source": "Music2Latent2 paper (Pasini, Lattner, Fazekas), Tables II and III",
}


class LatMusic(Autoencoder):
    requirements = Requirement(paper_only=True, note="no public code or weights; paper numbers only")
    name = "latmusic"
    sample_rate = 44100
    channels = 1
    latent_rate = 44100 / 4096  # 64x as reported; the architecture's own framing is not public
    latent_dim = 64
    paper_rows = PAPER_ROWS

    def __init__(self, **_):
        raise M2L2Error(
            "latmusic has no public code or weights (latmusic): use baselines.adapters.latmusic.PAPER_ROWS, "
            "the paper's numbers, to be marked as quoted"
        )

    def encode(self, audio: np.ndarray):  # pragma: no cover - never constructed
        raise NotImplementedError

    def decode(self, latent, length=None):  # pragma: no cover
        raise NotImplementedError
