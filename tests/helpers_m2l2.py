"""Helpers shared by several test modules: a micro model and toy training on tiny data.

Test modules import this as `helpers_m2l2` (tests/conftest.py puts tests/ on the path). Never import one
test module from another as `tests.test_x`: laion-clap and descript-audio-codec install a top-level
package named `tests` that then shadows this folder (tests/test_collection.py checks it).
"""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch
from torch import nn

import m2l2
from m2l2.training.config import TrainConfig
from m2l2.training.trainer import Trainer

# --- model ---------------------------------------------------------------------------------------

# A very small model so that property tests run in a fraction of a second.
MICRO = [
    "model.level_channels=[8, 16, 32, 32]",
    "model.level_blocks=[1, 1, 1, 1]",
    "model.down_factors=[[4, 1], [4, 4], [4, 4]]",
    "model.dim=32",
    "model.depth=2",
    "model.heads=2",
    "model.norm_groups=4",
    "model.noise_channels=32",
]


# A micro model with chunks of 8192 samples (0.19 s): fast enough for end-to-end runs (the shared checkpoints
# of conftest.py).
MICRO_FAST = [
    "model.level_channels=[4,8,8,16,16]",
    "model.dim=16",
    "model.depth=1",
    "model.norm_groups=4",
    "model.heads=2",
    "model.chunk_frames=16",
]


def micro(name: str = "tiny", extra: tuple[str, ...] = ()) -> m2l2.Music2Latent2:
    torch.manual_seed(0)
    return m2l2.build(name, [*MICRO, *extra])


# --- training ------------------------------------------------------------------------------------

SR = 44_100


class Denoiser(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, 9, padding=4)
        self.conv2 = nn.Conv1d(8, 1, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.nn.functional.silu(self.conv1(x)))


class ToyModel(nn.Module):
    """A denoiser small enough that a training step takes milliseconds."""

    channels = 1
    train_samples = 256

    def __init__(self) -> None:
        super().__init__()
        self.net = Denoiser()
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))


def toy_loss(model: nn.Module, audio: torch.Tensor, step: int, total_steps: int):
    noise = torch.randn_like(audio) * 0.3  # uses the global torch RNG, like the consistency loss
    out = model.net(audio + noise)
    model.calls += 1
    return ((out - audio) ** 2).mean(), {"noise_std": float(noise.std())}


def write_tone(path, seconds=0.5, sr=SR, channels=1, amp=0.3, freq=440.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)[None] + 0.01 * rng.standard_normal((channels, t.size))
    if channels == 2:
        x[1] *= -1.0
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.T.astype(np.float32), sr)
    return path


def make_data(root):
    """Two folders: music-like tones (one at 22.05 kHz, one stereo) and a folder with silence."""
    write_tone(root / "a" / "one.wav", freq=220)
    write_tone(root / "a" / "two.flac", freq=330, sr=22_050)
    write_tone(root / "a" / "sub" / "three.wav", channels=2, freq=550)
    write_tone(root / "b" / "four.wav", freq=880)
    sf.write(str(root / "b" / "silent.wav"), np.zeros(SR // 2, dtype=np.float32), SR)
    return root


def toy_trainer(tmp_path, data_root, run="run", **overrides):
    settings = dict(
        batch_size=4,
        lr=1e-2,
        warmup_steps=3,
        total_steps=10,
        ema_decay=0.9,
        grad_clip=1.0,
        data=[str(data_root / "a"), str(data_root / "b")],
        num_workers=0,
        log_every=1,
        checkpoint_every=0,
        checkpoint_minutes=0,
        progress=False,
        seed=3,
    )
    settings.update(overrides)
    torch.manual_seed(0)
    return Trainer(ToyModel(), TrainConfig.from_dict(settings), tmp_path / run, loss_fn=toy_loss)


# `tiny` shrunk so that encode → decode of a short clip takes well under a second on one core.
MICRO_MODEL = {
    "channels": 1,
    "chunk_frames": 16,
    "level_channels": [8, 16, 32],
    "level_blocks": [0, 1, 1],
    "down_factors": [[4, 2], [4, 2]],
    "dim": 32,
    "depth": 1,
    "heads": 2,
    "mlp_mult": 2,
    "norm_groups": 8,
    "num_latents": 4,
    "latent_dim": 16,
}

# A micro YAML configuration for the CLI tests (`m2l2 encode/reconstruct/train -c micro.yaml`).
MICRO_YAML = """
base: tiny
model:
  level_channels: [8, 16, 32, 32]
  level_blocks: [1, 1, 1, 1]
  down_factors: [[4, 1], [4, 4], [4, 4]]
  dim: 32
  depth: 1
  heads: 2
  norm_groups: 4
  noise_channels: 32
"""


# --- benchmarks ----------------------------------------------------------------------------------


class ToyEmbedder:
    """A cheap deterministic embedder standing in for MusiCNN: |frames| through a fixed projection."""

    name, sample_rate = "toy", 8000

    def __init__(self, **_):
        self.proj = np.random.default_rng(0).standard_normal((400, 8)).astype(np.float32)

    def identity(self) -> str:
        return "toy|v1"

    def embed(self, audio):
        n = audio.shape[0] // 400
        return np.abs(audio[: n * 400].reshape(n, 400)) @ self.proj
