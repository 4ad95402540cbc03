"""Musika's autoencoder (Pasini & Schlüter, ISMIR 2022), rebuilt in PyTorch and loaded from its Keras .h5 files.

The published files (`enc.h5`, `enc2.h5`, `dec.h5`, `dec2.h5` in the hub repo marcop/musika_ae) hold Keras
*weights only*; Musika's TensorFlow 2.x scripts rebuild the graphs in code. Rather than pin a 2022-era
TensorFlow, this module re-implements the four networks in PyTorch and reads the weights with h5py, so the
adapter runs wherever the rest of the benchmark runs. Pipeline, per channel, at 44.1 kHz (hop 256):

    STFT (periodic Hann 1024, hop 256, no centring) -> power in dB -> (dB + 25) / 75
    enc : per-frame MLP 513 -> 1024 (x5, swish) -> 64, tanh         -> 64 values per STFT frame (172 Hz)
    enc2: 16 frames -> strided convs -> 64, tanh                    -> the latent: 64 values at 10.77 Hz
    dec2: 4 latents -> 64 frames of enc's output (transposed convs)
    dec : 64 frames -> normalised log-magnitude and phase / pi (U-Net, two heads), both clipped to [-1, 1]
    inverse STFT with the decoded phase (no Griffin-Lim)

4096 samples become 64 values: 64x per channel. The decoders inject Gaussian noise (StyleGAN-style, learnt
per-layer scale), so decoding is seeded. The architecture follows the public marcoppasini/musika code
(models.py / utils.py, whose default hop/shape/rescale arguments are copied into `MusikaConfig`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.harness import seeded
from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import WeightsFile, find_weights, register_weights, sha256_of, weights_dir

HUB = "https://huggingface.co/marcop/musika_ae"
PARTS = ("enc", "enc2", "dec", "dec2")
WEIGHTS = {
    part: register_weights(
        WeightsFile(
            name=f"musika-{part}",
            filename=f"musika/{part}.h5",
            url=f"{HUB}/resolve/main/{part}.h5",
            licence="see the model card of marcop/musika_ae (Musika code: MIT)",
            used_by="baselines: musika",
        )
    )
    for part in PARTS
}
PACKAGE = Package("h5py", "h5py>=3.8", "reads Musika's Keras .h5 weights; TensorFlow is not needed")

FRAMES_PER_LATENT = 16  # enc2 turns 16 STFT frames into one latent vector
LATENTS_PER_DEC2 = 4  # dec2 decodes groups of 4 latents (64 frames)


@dataclass(frozen=True)
class MusikaConfig:
    """Musika's defaults (its parse scripts); every width derives from `hop` and `latdepth`."""

    sample_rate: int = 44100
    hop: int = 256  # STFT hop; window and FFT size are 4 * hop
    latdepth: int = 64  # values per latent vector (per channel)
    mu_rescale: float = -25.0  # dB spectrogram normalisation: (dB - mu) / sigma
    sigma_rescale: float = 75.0

    @property
    def n_fft(self) -> int:
        return 4 * self.hop

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def edge(self) -> int:
        """Samples beyond the last full hop that the un-centred STFT needs (3 * hop)."""
        return self.n_fft - self.hop

    @property
    def samples_per_latent(self) -> int:
        return FRAMES_PER_LATENT * self.hop


# --- layers ----------------------------------------------------------------------------------------


def _same_pad(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (the extra sample goes on the right)."""
    out = -(-n // stride)
    total = max((out - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


class ConvBlock(nn.Module):
    """Musika's `conv_util` over time ([B, C, T]; the Keras height axis is always 1): conv, optional noise, swish."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: str = "same",
                 transpose: bool = False, noise: bool = False, act: bool = True):
        super().__init__()
        self.kernel, self.stride, self.padding, self.transpose, self.act = kernel, stride, padding, transpose, act
        conv = nn.ConvTranspose1d if transpose else nn.Conv1d
        self.conv = conv(cin, cout, kernel, stride=stride)
        self.noise_weight = nn.Parameter(torch.zeros(1)) if noise else None  # Keras AddNoise starts at 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        if self.transpose:  # Keras 'same' transposed conv: output n * stride, cropped like TensorFlow
            y = self.conv(x)
            left = max(self.kernel - self.stride, 0) // 2
            y = y[..., left : left + n * self.stride]
        else:
            if self.padding == "same":
                x = F.pad(x, _same_pad(n, self.kernel, self.stride))
            y = self.conv(x)
        if self.noise_weight is not None:  # one N(0, 1) value per time step, shared by all channels
            y = y + self.noise_weight * torch.randn(y.shape[0], 1, y.shape[-1], dtype=y.dtype, device=y.device)
        return F.silu(y) if self.act else y


class KerasMapped(nn.Module):
    """A network whose `keras_slots` says which module takes which Keras layer, by type in creation order."""

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        raise NotImplementedError


class Encoder(KerasMapped):
    """Musika `ENC`: a per-frame MLP from a normalised dB spectrogram [B, bins, T] to [B, latdepth', T] (tanh)."""

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h, width = cfg.hop, 4 * cfg.hop
        self.blocks = nn.ModuleList(
            [ConvBlock(cfg.bins if i == 0 else width, width, 1, padding="valid") for i in range(5)]
        )
        self.out = ConvBlock(width, h // 4, 1, padding="valid", act=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = spec
        for b in self.blocks:
            x = b(x)
        return torch.tanh(self.out(x))

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {"conv2d": [*self.blocks, self.out]}


class Encoder2(KerasMapped):
    """Musika `ENC2`: 16 frames of `Encoder` output [B, hop/4, 16] -> one latent vector [B, latdepth, 1] (tanh)."""

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h = cfg.hop
        spec = [(h // 4, h, 3, 1, "same"), (h, 3 * h // 2, 3, 2, "valid"), (3 * h // 2, 3 * h // 2, 3, 1, "same"),
                (3 * h // 2, 2 * h, 3, 2, "valid"), (2 * h, 2 * h, 3, 1, "same"), (2 * h, 3 * h, 3, 1, "valid"),
                (3 * h, 3 * h, 1, 1, "valid")]
        self.blocks = nn.ModuleList([ConvBlock(i, o, k, s, p) for i, o, k, s, p in spec])
        self.bottle = ConvBlock(3 * h, cfg.latdepth, 1, padding="valid", act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return torch.tanh(self.bottle(x))

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {"conv2d": list(self.blocks), "cbottle": [self.bottle]}


class Decoder2(KerasMapped):
    """Musika `DEC2`: 4 latent vectors [B, latdepth, 4] -> 64 frames of `Encoder` output [B, hop/4, 64]."""

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h = cfg.hop
        spec = [(cfg.latdepth, 3 * h, 3, 1, False), (3 * h, 5 * h // 2, 4, 2, True), (5 * h // 2, 5 * h // 2, 3, 1, False),
                (5 * h // 2, 2 * h, 4, 2, True), (2 * h, 2 * h, 3, 1, False), (2 * h, 3 * h // 2, 4, 2, True),
                (3 * h // 2, h, 4, 2, True)]
        self.blocks = nn.ModuleList([ConvBlock(i, o, k, s, transpose=t, noise=True) for i, o, k, s, t in spec])
        self.out = ConvBlock(h, h // 4, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.out(x)

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {
            "conv2d": [b for b in self.blocks if not b.transpose],
            "conv2d_transpose": [b for b in self.blocks if b.transpose],
            "add_noise": list(self.blocks),
            "cout": [self.out],
        }


class Decoder(KerasMapped):
    """Musika `DEC`: 64 frames [B, hop/4, 64] -> (log-magnitude, phase / pi), each [B, bins, 64] in [-1, 1].

    A U-Net with a magnitude head and a phase head sharing the encoder path (Musika's graph also builds a
    fourth down-block and an up-block that feed no output; Keras drops those, and so does this port).
    """

    def __init__(self, cfg: MusikaConfig):
        super().__init__()
        h = cfg.hop
        self.down = nn.ModuleList([ConvBlock(i, o, 3, s, noise=True) for i, o, s in
                                   [(h // 4, 3 * h, 1), (3 * h, 3 * h, 2), (3 * h, 2 * h, 2), (2 * h, h, 2)]])
        self.up = nn.ModuleList([ConvBlock(i, o, 4, 2, transpose=True, noise=True) for i, o in
                                 [(h, 2 * h), (2 * h, 3 * h), (3 * h, 3 * h)]])
        self.mag = ConvBlock(3 * h, cfg.bins, 1, act=False)
        self.phase_up = nn.ModuleList([ConvBlock(i, o, 4, 2, transpose=True, noise=True) for i, o in
                                       [(2 * h, 3 * h), (3 * h, 3 * h)]])
        self.phase = ConvBlock(3 * h, cfg.bins, 1, act=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g0 = self.down[0](x)
        g1 = self.down[1](g0)
        g2 = self.down[2](g1)
        g3 = self.down[3](g2)
        g22 = self.up[0](g3)
        g11 = self.up[1](g22 + g2)
        g00 = self.up[2](g11 + g1)
        mag = torch.clamp(self.mag(g00 + g0), -1.0, 1.0)
        p = self.phase_up[0](g22)
        p = self.phase_up[1](p + g11)
        phase = torch.clamp(self.phase(p + g00), -1.0, 1.0)
        return mag, phase

    def keras_slots(self) -> dict[str, list[ConvBlock]]:
        return {
            "conv2d": [*self.down, self.mag, self.phase],
            "conv2d_transpose": [*self.up, *self.phase_up],
            "add_noise": [*self.down, *self.up, *self.phase_up],
        }


NETWORKS: dict[str, Callable[[MusikaConfig], KerasMapped]] = {
    "enc": Encoder, "enc2": Encoder2, "dec": Decoder, "dec2": Decoder2,
}


# --- reading Keras .h5 weights ---------------------------------------------------------------------

_NAME = re.compile(r"^(?P<kind>.*?)(?:_(?P<index>\d+))?$")


def _layer_kind(name: str) -> tuple[str, int]:
    """'conv2d_transpose_12' -> ('conv2d_transpose', 12); 'conv2d' -> ('conv2d', 0); 'cout' -> ('cout', 0)."""
    m = _NAME.match(name)
    assert m is not None
    return m["kind"], int(m["index"] or 0)


def read_keras_h5(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> its weight arrays, in Keras' order (kernel, bias), from a Keras 2 `save_weights` .h5 file."""
    h5py = import_optional(PACKAGE)
    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(str(path), "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs.get("layer_names", [])]
        if not names:
            raise M2L2Error(f"{path} is not a Keras weights file (no 'layer_names' attribute)")
        for name in names:
            group = root[name]
            wnames = [w.decode() if isinstance(w, bytes) else str(w) for w in group.attrs.get("weight_names", [])]
            if wnames:
                out[name] = [np.asarray(group[w]) for w in wnames]
    return out


def load_keras_weights(net: KerasMapped, layers: dict[str, list[np.ndarray]], source: str) -> dict[str, ConvBlock]:
    """Copy Keras layers into `net`: per layer type, the file's layers sorted by their creation index go to
    the slots in the order Musika's code creates them (robust to the graph order Keras saved them in).
    Returns which block took which Keras layer."""
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for name in layers:
        kind, index = _layer_kind(name)
        by_kind.setdefault(kind, []).append((index, name))
    slots = net.keras_slots()
    if set(by_kind) != set(slots) or any(len(by_kind[k]) != len(v) for k, v in slots.items()):
        found = {k: len(v) for k, v in sorted(by_kind.items())}
        wanted = {k: len(v) for k, v in sorted(slots.items())}
        raise M2L2Error(f"{source}: Keras layers {found} do not match Musika's {type(net).__name__} {wanted}; "
                        "is it the right file (enc.h5 / enc2.h5 / dec.h5 / dec2.h5 of marcop/musika_ae)?")
    placed: dict[str, ConvBlock] = {}
    with torch.no_grad():
        for kind, targets in slots.items():
            for (_, name), block in zip(sorted(by_kind[kind]), targets, strict=True):
                _assign(block, kind, layers[name], f"{source}:{name}")
                placed[name] = block
    return placed


def _assign(block: ConvBlock, kind: str, arrays: list[np.ndarray], where: str) -> None:
    if kind == "add_noise":
        dst_list: list[tuple[torch.Tensor, np.ndarray]] = [(block.noise_weight, arrays[0].reshape(1))]
    else:
        if len(arrays) != 2:
            raise M2L2Error(f"{where}: expected a kernel and a bias, found {len(arrays)} arrays")
        kernel, bias = arrays
        if kernel.ndim != 4 or kernel.shape[0] != 1:
            raise M2L2Error(f"{where}: expected a Keras Conv2D kernel [1, k, ., .], got {kernel.shape}")
        # Keras Conv2D kernel [1, k, in, out] -> torch [out, in, k]; Conv2DTranspose [1, k, out, in] -> [in, out, k]
        dst_list = [(block.conv.weight, np.transpose(kernel[0], (2, 1, 0))), (block.conv.bias, bias)]
    for dst, src in dst_list:
        if dst is None or tuple(dst.shape) != tuple(src.shape):
            got = None if dst is None else tuple(dst.shape)
            raise M2L2Error(f"{where}: shape {tuple(src.shape)} does not fit this layer ({got})")
        dst.copy_(torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32)))


# --- spectrogram in and out ------------------------------------------------------------------------


def spectrogram(x: torch.Tensor, cfg: MusikaConfig) -> torch.Tensor:
    """[B, N] waveform -> normalised dB power spectrogram [B, bins, frames] (frames = 1 + (N - n_fft) // hop)."""
    window = torch.hann_window(cfg.n_fft, periodic=True, dtype=x.dtype, device=x.device)
    frames = x.unfold(-1, cfg.n_fft, cfg.hop) * window
    power = torch.fft.rfft(frames, n=cfg.n_fft).abs() ** 2
    db = 10.0 * torch.log10(torch.clamp(power, min=1e-10))
    return ((db - cfg.mu_rescale) / cfg.sigma_rescale).transpose(-1, -2)


def waveform(mag: torch.Tensor, phase: torch.Tensor, cfg: MusikaConfig) -> torch.Tensor:
    """Decoded (normalised dB magnitude, phase / pi) [B, bins, frames] -> [B, (frames - 1) * hop + n_fft] by
    inverse STFT with the window that inverts the forward Hann at this hop (TensorFlow's inverse_stft rule)."""
    amp = torch.sqrt(10.0 ** ((mag * cfg.sigma_rescale + cfg.mu_rescale) / 10.0) + 1e-7)
    spec = torch.polar(amp, phase * math.pi).transpose(-1, -2)  # [B, frames, bins]
    frames = torch.fft.irfft(spec, n=cfg.n_fft)
    window = torch.hann_window(cfg.n_fft, periodic=True, dtype=frames.dtype, device=frames.device)
    denom = (window**2).reshape(-1, cfg.hop).sum(0).repeat(cfg.n_fft // cfg.hop)
    frames = frames * (window / denom)
    n_frames = frames.shape[-2]
    length = (n_frames - 1) * cfg.hop + cfg.n_fft
    return F.fold(frames.transpose(-1, -2), (1, length), (1, cfg.n_fft), stride=(1, cfg.hop)).reshape(-1, length)


# --- the adapter -----------------------------------------------------------------------------------


def weights_folder() -> Path:
    return weights_dir() / Path(WEIGHTS["enc"].filename).parent


def _missing_message(missing: list[str], folder: Path) -> str:
    urls = ", ".join(f"{HUB}/resolve/main/{p}.h5" for p in missing)
    return (f"musika weights missing: {', '.join(p + '.h5' for p in missing)} not in {folder}. Download them "
            f"from {urls} (the hub repo marcop/musika_ae; or `m2l2 weights fetch musika-enc` etc. on a machine "
            f"with internet) and place them in {folder}, or pass weights_dir=FOLDER holding all four files.")


class MusikaAE(Autoencoder):
    requirements = Requirement(packages=(PACKAGE,), weights=tuple(w.name for w in WEIGHTS.values()))
    stochastic = True  # the decoders add learnt-scale Gaussian noise

    def __init__(
        self,
        weights_dir: str | Path | None = None,
        random_init: bool = False,
        channels: int = 1,
        seed: int | None = 0,
        device: str = "cpu",
        batch_size: int = 64,
        config: MusikaConfig | None = None,
    ):
        self.cfg = cfg = config or MusikaConfig()
        self.device = torch.device(device)
        nets = {part: build(cfg) for part, build in NETWORKS.items()}
        if random_init:
            self._provenance = Provenance(False, note="random initialisation (tests only)")
        else:
            paths = self._find_files(weights_dir)
            import_optional(PACKAGE)
            digests = []
            for part, net in nets.items():
                load_keras_weights(net, read_keras_h5(paths[part]), str(paths[part]))
                digests.append(f"{part}.h5:{sha256_of(paths[part])}")
            combined = hashlib.sha256("\n".join(digests).encode()).hexdigest()
            self._provenance = Provenance(True, weights="musika-ae (enc, enc2, dec, dec2)",
                                          path=str(paths["enc"].parent), sha256=combined,
                                          note="sha256 over the four files' digests; " + "; ".join(digests))
        self.nets = nn.ModuleDict(nets).to(self.device).eval()
        self.name = "musika"
        self.sample_rate = cfg.sample_rate
        self.channels = int(channels)
        self.latent_rate = cfg.sample_rate / cfg.samples_per_latent
        self.latent_dim = cfg.latdepth * self.channels
        self.seed = seed
        self.batch_size = int(batch_size)

    @staticmethod
    def _find_files(folder: str | Path | None) -> dict[str, Path]:
        if folder is not None:
            base = Path(folder).expanduser()
            paths = {p: base / f"{p}.h5" for p in PARTS}
            missing = [p for p in PARTS if not paths[p].is_file()]
        else:
            base = weights_folder()
            found = {p: find_weights(WEIGHTS[p].name) for p in PARTS}
            missing = [p for p in PARTS if found[p] is None]
            paths = {p: f for p, f in found.items() if f is not None}
        if missing:
            raise M2L2Error(_missing_message(missing, base))
        return paths

    def _batched(self, net: nn.Module, x: torch.Tensor) -> list:
        return [net(x[i : i + self.batch_size]) for i in range(0, x.shape[0], self.batch_size)]

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> np.ndarray:
        """float32 [C, N] -> latent [C, latdepth, T], T = 8 * ceil((N - 768) / 32768) (one vector per 4096 samples)."""
        cfg = self.cfg
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
        chunk = 8 * cfg.samples_per_latent  # Musika encodes 128-frame pieces: 8 latents
        pieces = max(1, -(-max(x.shape[-1] - cfg.edge, 0) // chunk))
        x = F.pad(x, (0, cfg.edge + pieces * chunk - x.shape[-1]))
        c = x.shape[0]
        spec = spectrogram(x, cfg)  # [C, bins, 128 * pieces]
        frames = torch.cat(self._batched(self.nets["enc"], spec), 0)  # [C, hop/4, F]
        groups = frames.reshape(c, -1, frames.shape[-1] // FRAMES_PER_LATENT, FRAMES_PER_LATENT)
        groups = groups.permute(0, 2, 1, 3).reshape(-1, groups.shape[1], FRAMES_PER_LATENT)
        lat = torch.cat(self._batched(self.nets["enc2"], groups), 0)  # [C * T, latdepth, 1]
        return lat.reshape(c, -1, cfg.latdepth).transpose(1, 2).cpu().numpy()

    @torch.no_grad()
    def decode(self, latent: np.ndarray, length: int | None = None) -> np.ndarray:
        cfg = self.cfg
        z = torch.as_tensor(np.asarray(latent, dtype=np.float32), device=self.device)
        c, d, t = z.shape
        z = F.pad(z, (0, -t % LATENTS_PER_DEC2))
        groups = z.reshape(c, d, -1, LATENTS_PER_DEC2).permute(0, 2, 1, 3).reshape(-1, d, LATENTS_PER_DEC2)
        with seeded(self.seed):
            frames = torch.cat(self._batched(self.nets["dec2"], groups), 0)  # [G, hop/4, 64]
            outs = self._batched(self.nets["dec"], frames)
        mag = torch.cat([m for m, _ in outs], 0)
        phase = torch.cat([p for _, p in outs], 0)

        def join(s: torch.Tensor) -> torch.Tensor:  # [C * G, bins, 64] -> [C, bins, G * 64]
            return s.reshape(c, -1, s.shape[1], s.shape[2]).permute(0, 2, 1, 3).reshape(c, s.shape[1], -1)

        y = torch.clamp(waveform(join(mag), join(phase), cfg), -1.0, 1.0).cpu().numpy().astype(np.float32)
        return y if length is None else y[:, :length]

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Mean over time of the latent (the representation Musika's generator is trained on), channels stacked."""
        return self.encode(audio).mean(-1).reshape(-1)

