"""Log-magnitude spectrograms of an original clip and its reconstructions, one panel each, in one PNG.

usage: python scripts/compare_spectrograms.py OUT.png ORIGINAL [LABEL=RECONSTRUCTION ...]
Panels go three to a row. Looking at the picture shows at once what a reconstruction keeps (onsets, pitch,
level) and what it lacks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.signal import stft

from m2l2.audio import convert_channels, load_audio


def log_spec(path: str, sr: int = 44_100) -> np.ndarray:
    audio, _ = load_audio(path, sample_rate=sr)
    _, _, z = stft(convert_channels(audio, 1)[0], fs=sr, nperseg=2048, noverlap=1536)
    return 20 * np.log10(np.abs(z) + 1e-6)


def main() -> None:
    out, original, *recs = sys.argv[1:]
    panels = [("original", original)] + [tuple(r.split("=", 1)) for r in recs]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    specs = [log_spec(p) for _, p in panels]
    top = max(float(s.max()) for s in specs)
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows + 0.4), sharey=True, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (label, _), s in zip(axes.flat, panels, specs):
        seconds = s.shape[1] * 512 / 44_100
        ax.imshow(s, origin="lower", aspect="auto", vmin=top - 80, vmax=top, cmap="magma",
                  extent=(0, seconds, 0, 22.05))
        ax.set_title(label)
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (kHz)")
    fig.suptitle(Path(original).name + " (same colour scale in every panel, 80 dB range)")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    main()
