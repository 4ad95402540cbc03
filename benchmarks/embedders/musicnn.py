"""MusiCNN (Pons & Serra 2019) in PyTorch, with weights read at run time from the `musicnn` wheel's TF1 checkpoints.

Why: it is a trained music embedder whose weights ship inside a PyPI wheel (ISC licence), so FAD and probing
have an embedder on machines without internet. TensorFlow is not needed: `tf_checkpoint` reads the checkpoint.

The input pipeline is the package's (`musicnn.configuration` / `musicnn.extractor.batch_data`): mono 16 kHz,
|STFT|^2 with n_fft 512, hop 256, periodic Hann, centred frames with zero padding (librosa >= 0.10 default),
96 Slaney-scale mel bands (librosa's formula, Slaney area normalisation, 0-8 kHz), a float16 cast, then
log10(10000 x + 1), cut into non-overlapping patches of 187 frames (3 s). One deliberate departure: the package
evaluates the log in float16, which overflows to +inf once a mel bin's power exceeds ~6.55 (common in loud
music; the original graph then returns NaN). Such bins are computed in float64 here instead; all other bins
get exactly the package's float16 arithmetic. Audio shorter than one patch is repeat-padded (the training
configuration's `pad_short: repeat-pad`; the package itself fails on it).

Embedding = the penultimate layer (`bn_dense`, 200-D) for musicnn models, the flattened `pool5` (256-D, the
input of the output layer) for the VGG-like models. Tag probabilities are the sigmoid outputs (50 tags).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.embedders.musicnn_frontend import FrontendConfig, logmel_patches
from benchmarks.embedders.tf_checkpoint import TFCheckpoint
from m2l2.errors import M2L2Error

INSTALL_HINT = "pip install musicnn==0.1.0 --no-deps"

# musicnn/configuration.py (0.1.0), copied as data so that nothing of the package's TF code is imported.
MTT_LABELS = [
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
    "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
    "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
    "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
]  # fmt: skip
MSD_LABELS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
]  # fmt: skip


@dataclass(frozen=True)
class NetworkSpec:
    arch: str  # "musicnn" or "vgg"
    labels: tuple[str, ...]
    embed_name: str


MODELS: dict[str, NetworkSpec] = {
    "MSD_musicnn": NetworkSpec("musicnn", tuple(MSD_LABELS), "musicnn-msd"),
    "MTT_musicnn": NetworkSpec("musicnn", tuple(MTT_LABELS), "musicnn-mtt"),
    "MSD_vgg": NetworkSpec("vgg", tuple(MSD_LABELS), "vgg-msd"),
    "MTT_vgg": NetworkSpec("vgg", tuple(MTT_LABELS), "vgg-mtt"),
}


# ------------------------------------------------------------------------------------------------ networks
class _BN(nn.Module):
    """Inference batch norm as tf.compat.v1.layers.batch_normalization (epsilon 1e-3) on channel dim 1."""

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        for k in ("gamma", "beta", "mean", "var"):
            self.register_buffer(k, torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = self.gamma / torch.sqrt(self.var + self.eps)
        return (x - self.mean.view(shape)) * scale.view(shape) + self.beta.view(shape)


def _bn_max_over_freq(y: torch.Tensor, bn: _BN) -> torch.Tensor:
    """max_f BN(ReLU(y)) over the last axis, computed on the reduced tensor (why: the full-size elementwise
    passes dominated CPU time). Exact, since ReLU and a per-channel affine map are monotone: the max of
    BN(v) is BN(max v) where the BN scale is >= 0, BN(min v) where it is negative."""
    hi = F.relu(y.amax(dim=3))
    lo = F.relu(y.amin(dim=3))
    scale = (bn.gamma / torch.sqrt(bn.var + bn.eps)).view(1, -1, 1)
    return bn(torch.where(scale >= 0, hi, lo))


class MusiCNN(nn.Module):
    """build_musicnn(): timbral (7x38, 7x67) + temporal (128/64/32x1) front-end, 3 dense-residual 1-D convs,
    max+mean temporal pooling, dense 200 (penultimate), dense n_tags."""

    def __init__(self, n_tags: int = 50, n_mels: int = 96, mid: int = 64, backend: int = 200):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.bn_in = _BN(1)
        self.timbral = nn.ModuleList(nn.Conv2d(1, timbral, (7, int(r * n_mels))) for r in (0.4, 0.7))
        self.temporal = nn.ModuleList(nn.Conv2d(1, temporal, (k, 1)) for k in (128, 64, 32))
        self.bn_front = nn.ModuleList(_BN(timbral) for _ in range(2))
        self.bn_front.extend(_BN(temporal) for _ in range(3))
        front = 2 * timbral + 3 * temporal
        self.mid = nn.ModuleList([nn.Conv1d(front, mid, 7), nn.Conv1d(mid, mid, 7), nn.Conv1d(mid, mid, 7)])
        self.bn_mid = nn.ModuleList(_BN(mid) for _ in range(3))
        self.bn_pool = _BN(2 * (front + 3 * mid))
        self.dense = nn.Linear(2 * (front + 3 * mid), backend)
        self.bn_dense = _BN(backend)
        self.out = nn.Linear(backend, n_tags)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, n_mels] log-mel -> (logits [B, n_tags], penultimate [B, backend])."""
        h = self.bn_in(x.unsqueeze(1))
        feats = []
        for conv, bn in zip(self.timbral, self.bn_front[:2], strict=True):
            feats.append(_bn_max_over_freq(conv(F.pad(h, (0, 0, 3, 3))), bn))
        for conv, bn in zip(self.temporal, self.bn_front[2:], strict=True):
            k = conv.kernel_size[0]  # TF "same": the odd extra row goes after
            feats.append(_bn_max_over_freq(conv(F.pad(h, (0, 0, (k - 1) // 2, k // 2))), bn))
        front = torch.cat(feats, dim=1)  # [B, 561, T]
        c1 = self.bn_mid[0](F.relu(self.mid[0](F.pad(front, (3, 3)))))
        c2 = self.bn_mid[1](F.relu(self.mid[1](F.pad(c1, (3, 3))))) + c1
        c3 = self.bn_mid[2](F.relu(self.mid[2](F.pad(c2, (3, 3))))) + c2
        fm = torch.cat([front, c1, c2, c3], dim=1)  # [B, 753, T]
        # tf.layers.flatten of [B, 753, 2]: max and mean interleaved per channel
        pooled = torch.stack([fm.amax(dim=2), fm.mean(dim=2)], dim=2).flatten(1)
        pen = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return self.out(pen), pen

    def load_tf(self, ckpt: TFCheckpoint) -> None:
        """Variable names are those tf.compat.v1.layers gave in creation order (see musicnn/models.py)."""
        convs = [*self.timbral, *self.temporal]
        for i, conv in enumerate(convs):
            _conv2d(conv, ckpt, _scoped("conv2d", i))
        for i, conv in enumerate(self.mid):
            _conv1d(conv, ckpt, _scoped("conv2d", len(convs) + i))
        bns = [self.bn_in, *self.bn_front, *self.bn_mid, self.bn_pool, self.bn_dense]
        for i, bn in enumerate(bns):
            _bn(bn, ckpt, _scoped("batch_normalization", i))
        _dense(self.dense, ckpt, "dense")
        _dense(self.out, ckpt, "dense_1")


class VGGish3s(nn.Module):
    """vgg() of musicnn/models.py: 5 x (3x3 conv, ReLU, BN, max-pool), dense n_tags on the flattened pool5."""

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))

    def __init__(self, n_tags: int = 50, filters: int = 128, patch_frames: int = 187, n_mels: int = 96):
        super().__init__()
        self.bn_in = _BN(1)
        self.convs = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5)
        )
        self.bns = nn.ModuleList(_BN(filters) for _ in range(5))
        t, f = patch_frames, n_mels
        for (kt, kf), (st, sf) in self.POOLS:
            t, f = (t - kt) // st + 1, (f - kf) // sf + 1
        self.out = nn.Linear(filters * t * f, n_tags)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.bn_in(x.unsqueeze(1))
        for conv, bn, (k, s) in zip(self.convs, self.bns, self.POOLS, strict=True):
            h = F.max_pool2d(bn(F.relu(conv(h))), kernel_size=k, stride=s)
        flat = h.permute(0, 2, 3, 1).flatten(1)  # NHWC flatten order, as tf.layers.flatten
        return self.out(flat), flat

    def load_tf(self, ckpt: TFCheckpoint) -> None:
        for i, conv in enumerate(self.convs):
            _conv2d(conv, ckpt, f"{i + 1}CNN")
        for i, bn in enumerate([self.bn_in, *self.bns]):
            _bn(bn, ckpt, _scoped("batch_normalization", i))
        _dense(self.out, ckpt, "dense")


def _scoped(base: str, i: int) -> str:
    return base if i == 0 else f"{base}_{i}"


def _set(param: torch.Tensor, value: np.ndarray, name: str) -> None:
    if tuple(param.shape) != value.shape:
        raise M2L2Error(
            f"checkpoint variable has shape {value.shape}, the model expects {tuple(param.shape)} ({name}): "
            f"reinstall the musicnn package: `{INSTALL_HINT}`"
        )
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _conv2d(conv: nn.Conv2d, ckpt: TFCheckpoint, scope: str) -> None:
    _set(conv.weight, ckpt.read(f"{scope}/kernel").transpose(3, 2, 0, 1), f"{scope}/kernel")  # HWIO -> OIHW
    _set(conv.bias, ckpt.read(f"{scope}/bias"), f"{scope}/bias")


def _conv1d(conv: nn.Conv1d, ckpt: TFCheckpoint, scope: str) -> None:
    k = ckpt.read(f"{scope}/kernel")  # [7, C_in, 1, C_out]: a 2-D conv spanning all input channels
    _set(conv.weight, k[:, :, 0, :].transpose(2, 1, 0), f"{scope}/kernel")
    _set(conv.bias, ckpt.read(f"{scope}/bias"), f"{scope}/bias")


def _bn(bn: _BN, ckpt: TFCheckpoint, scope: str) -> None:
    for attr, var in (
        ("gamma", "gamma"),
        ("beta", "beta"),
        ("mean", "moving_mean"),
        ("var", "moving_variance"),
    ):
        _set(getattr(bn, attr), ckpt.read(f"{scope}/{var}"), f"{scope}/{var}")


def _dense(lin: nn.Linear, ckpt: TFCheckpoint, scope: str) -> None:
    _set(lin.weight, ckpt.read(f"{scope}/kernel").T, f"{scope}/kernel")
    _set(lin.bias, ckpt.read(f"{scope}/bias"), f"{scope}/bias")


# ------------------------------------------------------------------------------------------------ checkpoint
def musicnn_package_dir() -> Path:
    """The installed `musicnn` package folder, found without importing it (its modules import TensorFlow)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise M2L2Error(
            "the MusiCNN embedder reads its weights from the `musicnn` package, which is not installed "
            f"(musicnn): install it without its TensorFlow dependencies: `{INSTALL_HINT}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def checkpoint_prefix(model: str) -> str:
    """TF checkpoint prefix inside the package: the wheel stores `<model>/.index` and `<model>/.data-...`."""
    if model not in MODELS:
        raise M2L2Error(f"unknown musicnn model {model!r} (option model): use one of {', '.join(MODELS)}")
    folder = musicnn_package_dir() / model
    prefix = str(folder) + "/"
    for f in (prefix + ".index", prefix + ".data-00000-of-00001"):
        if not Path(f).is_file():
            raise M2L2Error(
                f"musicnn checkpoint file missing ({f}): reinstall the package: "
                f"`pip install --force-reinstall {INSTALL_HINT.removeprefix('pip install ')}`"
            )
    return prefix


def checkpoint_sha256(prefix: str) -> str:
    digest = hashlib.sha256()
    for suffix in (".index", ".data-00000-of-00001"):
        digest.update(Path(prefix + suffix).read_bytes())
    return digest.hexdigest()


def load_model(model: str = "MSD_musicnn", dtype: torch.dtype = torch.float32) -> nn.Module:
    """The PyTorch network with every variable of the package's checkpoint mapped by name, in eval mode."""
    spec = MODELS.get(model)
    if spec is None:
        raise M2L2Error(f"unknown musicnn model {model!r} (option model): use one of {', '.join(MODELS)}")
    net: nn.Module = MusiCNN(len(spec.labels)) if spec.arch == "musicnn" else VGGish3s(len(spec.labels))
    net.load_tf(TFCheckpoint(checkpoint_prefix(model)))  # type: ignore[operator]
    return net.to(dtype).eval()


# ------------------------------------------------------------------------------------------------ embedder
class MusiCNNEmbedder:
    """Per-3-s-patch embeddings and tag probabilities of a pretrained musicnn model (mono 16 kHz input)."""

    def __init__(
        self,
        model: str = "MSD_musicnn",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        hop_frames: int | None = None,
        batch_size: int = 32,
    ):
        self.model = model
        self.frontend = FrontendConfig()
        self.sample_rate: int = self.frontend.sample_rate
        self.name = MODELS[model].embed_name if model in MODELS else model
        self.labels = list(MODELS[model].labels) if model in MODELS else []
        self.device = torch.device(device)
        self.dtype = dtype
        self.hop_frames = hop_frames
        self.batch_size = batch_size
        self._prefix = checkpoint_prefix(model)
        self.net = load_model(model, dtype).to(self.device)
        self._sha: str | None = None

    def identity(self) -> str:
        """Model name and the sha256 of its checkpoint (.index + .data), for caches and result provenance."""
        if self._sha is None:
            self._sha = checkpoint_sha256(self._prefix)
        return f"{self.model}@sha256:{self._sha}"

    def patches(self, audio: np.ndarray) -> np.ndarray:
        x = np.asarray(audio)
        if x.ndim != 1:
            raise M2L2Error(
                f"musicnn expects mono audio of shape [N] at {self.sample_rate} Hz, got {x.shape} (audio "
                "argument): pass mono samples"
            )
        if x.size == 0:
            raise M2L2Error("musicnn got an empty signal (audio argument): pass at least one sample")
        return logmel_patches(x.astype(np.float32), self.frontend, self.hop_frames)

    @torch.no_grad()
    def _run(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        patches = self.patches(audio)
        logits, embs = [], []
        for i in range(0, len(patches), self.batch_size):
            x = torch.from_numpy(patches[i : i + self.batch_size].astype(np.float32)).to(
                self.device, self.dtype
            )
            lg, emb = self.net(x)
            logits.append(lg.double().cpu().numpy())
            embs.append(emb.double().cpu().numpy())
        return np.concatenate(logits), np.concatenate(embs)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Mono float32 [N] at `sample_rate` -> [patches, D] penultimate-layer embeddings (float32)."""
        return self._run(audio)[1].astype(np.float32)

    def tags(self, audio: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Mono float32 [N] -> (tag probabilities [patches, n_tags], tag names)."""
        logits = self._run(audio)[0]
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32), list(self.labels)


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.embedders.musicnn FILE...`: top tags per file; `--speed S`: embedding throughput."""
    import argparse
    import time

    from m2l2.audio import load_audio

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("files", nargs="*")
    ap.add_argument("--model", default="MSD_musicnn", choices=list(MODELS))
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--offset", type=float, default=0.0, help="seconds skipped at the start of each file")
    ap.add_argument("--duration", type=float, default=None, help="seconds used from each file")
    ap.add_argument("--speed", type=float, default=None, help="time embedding this many seconds of noise")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        e = MusiCNNEmbedder(args.model)
        for f in args.files:
            audio, sr = load_audio(f, sample_rate=e.sample_rate, channels=1)
            start = int(args.offset * sr)
            stop = None if args.duration is None else start + int(args.duration * sr)
            probs, labels = e.tags(audio[0, start:stop])
            mean = probs.mean(0)
            top = ", ".join(f"{labels[i]} {mean[i]:.3f}" for i in np.argsort(-mean)[: args.top])
            print(f"{f}: {len(probs)} patches; top tags: {top}")
        if args.speed:
            audio = (0.1 * np.random.default_rng(0).standard_normal(int(args.speed * e.sample_rate))).astype(
                np.float32
            )
            e.embed(audio[: e.sample_rate * 6])  # warm-up
            t0 = time.perf_counter()
            emb = e.embed(audio)
            dt = time.perf_counter() - t0
            print(
                f"{args.model}: {args.speed:.0f} s of audio -> {emb.shape} in {dt:.2f} s "
                f"= {args.speed / dt:.1f} s of audio per second ({torch.get_num_threads()} threads)"
            )
    except M2L2Error as err:
        print(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
