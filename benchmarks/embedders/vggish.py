"""VGGish (Hershey et al., 2017) in plain PyTorch, loading the published torchvggish weights from a local file.

Used as in the FAD toolkits (Google's FAD, frechet-audio-distance, fadtk): 16 kHz mono, log-mel patches of
0.96 s (96 frames × 64 bands, non-overlapping), the 128-d output of the last linear layer with no final
ReLU, no PCA and no quantisation. The frontend re-implements Google's `mel_features` numerically
(25-ms periodic-Hann frames, 10-ms hop, 512-point FFT magnitude, HTK mel 125–7500 Hz, log(x + 0.01)).
Resampling uses soxr (Google uses resampy), a difference well below FAD's sampling noise.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from m2l2.errors import M2L2Error
from m2l2.io import sha256_file

SAMPLE_RATE = 16000
STFT_WINDOW = 400  # 25 ms
STFT_HOP = 160  # 10 ms
FFT_LENGTH = 512
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10-ms frames
EXAMPLE_HOP = 96
MIN_SAMPLES = STFT_WINDOW + (EXAMPLE_FRAMES - 1) * STFT_HOP  # one full example
FRONTEND_VERSION = "vggish-frontend-v1(soxr,periodic-hann,htk-mel,log+0.01,96x64,hop96)"


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """HTK mel scale, as in VGGish."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """[FFT_LENGTH//2 + 1, MEL_BANDS] triangular weights, built in the mel domain; the DC bin gets no weight."""
    bins = FFT_LENGTH // 2 + 1
    bin_mel = hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2.0, bins))
    edges = np.linspace(hz_to_mel(MEL_MIN_HZ), hz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel[:, None] - lower) / (center - lower)
    falling = (upper - bin_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def frame_signal(x: np.ndarray, window: int, hop: int) -> np.ndarray:
    """[N] → [1 + (N − window) // hop, window] frames without padding (a view)."""
    if x.shape[0] < window:
        return np.zeros((0, window), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, window)[::hop]


def log_mel(audio: np.ndarray) -> np.ndarray:
    """[N] 16-kHz mono → [frames, 64] log-mel spectrogram (float64)."""
    x = np.asarray(audio, dtype=np.float64)
    n = np.arange(STFT_WINDOW)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / STFT_WINDOW)  # periodic
    frames = frame_signal(x, STFT_WINDOW, STFT_HOP) * hann
    magnitude = np.abs(np.fft.rfft(frames, FFT_LENGTH, axis=1))
    return np.log(magnitude @ mel_matrix() + LOG_OFFSET)


def vggish_examples(audio: np.ndarray) -> np.ndarray:
    """[N] 16-kHz mono → [examples, 96, 64] float32 patches; audio shorter than 0.975 s is zero-padded."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.shape[0] < MIN_SAMPLES:
        x = np.pad(x, (0, MIN_SAMPLES - x.shape[0]))
    mel = log_mel(x)
    count = 1 + (mel.shape[0] - EXAMPLE_FRAMES) // EXAMPLE_HOP
    return np.stack([mel[i * EXAMPLE_HOP : i * EXAMPLE_HOP + EXAMPLE_FRAMES] for i in range(count)]).astype(
        np.float32
    )


class VGGishNet(nn.Module):
    """VGG-style network whose state-dict keys match `vggish-10086976.pth` (features.*, embeddings.*)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(v), kernel_size=3, padding=1), nn.ReLU()]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        # No ReLU after the last layer: the FAD toolkits take the pre-activation 128-d embedding.
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 128)
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """[B, 1, 96, 64] log-mel patches → [B, 128]."""
        x = self.features(patches)  # [B, 512, 6, 4]
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # channels-last flatten, as the TF original
        return self.embeddings(x)


def load_vggish(path: str | Path) -> VGGishNet:
    """A VGGishNet with the published weights; a clear error when the file does not fit."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    with torch.device("meta"):  # skip the random initialisation of 72 M parameters
        net = VGGishNet()
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise M2L2Error(
            f"not a torchvggish state dict, {' '.join(str(e).split())} ({path}): pass vggish-10086976.pth"
        ) from e
    return net.eval()


class VGGishEmbedder:
    """FAD embedder: 16-kHz mono audio → [examples, 128] VGGish embeddings (one per 0.96 s)."""

    name = "vggish"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        weights_path: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        net: VGGishNet | None = None,
        weights_tag: str | None = None,
    ):
        """Loads the weights from `weights_path` or the weights directory; `net` (with a `weights_tag`
        naming it) replaces them, e.g. a randomly initialised network in tests."""
        if net is None:
            from benchmarks.embedders import weights_path as find

            path = find("vggish", weights_path)
            net = load_vggish(path)
            weights_tag = f"{path.name}:sha256={sha256_file(path)[:16]}"
        elif weights_tag is None:
            raise ValueError("give `weights_tag` (what the network's weights are) with `net`")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.batch_size = batch_size
        self._weights_tag = weights_tag

    def identity(self) -> str:
        return f"vggish|{self._weights_tag}|{FRONTEND_VERSION}|no-pca|no-final-relu"

    @torch.inference_mode()
    def embed(self, audio: np.ndarray) -> np.ndarray:
        patches = torch.from_numpy(vggish_examples(audio))[:, None]
        out = [
            self.net(patches[i : i + self.batch_size].to(self.device)).float().cpu()
            for i in range(0, patches.shape[0], self.batch_size)
        ]
        return torch.cat(out).numpy()
