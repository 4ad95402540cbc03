"""Music2Latent (Pasini, Lattner & Fazekas 2024) through the `music2latent` package, without its hub download.

The package's `EncoderDecoder()` always tries a download in `__init__`, so the network (`models.UNet`) is
built directly and a local checkpoint is loaded with `torch.load(weights_only=True)` (or safetensors).
The package's own chunked `encode_audio_inference` / `decode_latent_inference` functions do the rest.
Latents are [C, 64, T/4096] (scaled by 1/0.06 as in the package). Decoding takes 1 step by default, as in
the Music2Latent2 paper's comparison.
"""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import numpy as np
import torch

from baselines.harness import seeded
from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import WeightsFile, register_weights, require_weights, sha256_of

WEIGHTS = register_weights(
    WeightsFile(
        name="music2latent",
        filename="music2latent.pt",
        url="https://huggingface.co/SonyCSLParis/music2latent/resolve/main/music2latent.pt",
        licence="CC BY-NC 4.0 (model card of SonyCSLParis/music2latent)",
        used_by="baselines: music2latent",
    )
)
PACKAGE = Package("music2latent", "music2latent>=0.1.6", "needs huggingface_hub importable (its dependency)")

HOP = 512  # STFT hop of Music2Latent
EDGE = 3 * HOP  # extra samples the package's cropping rule keeps
SAMPLES_PER_FRAME = 4096  # one latent frame per 4096 samples (8 STFT frames)


def _padded_length(n: int) -> int:
    """Smallest length ≥ n that the package's cropping rule keeps whole (so no input is dropped)."""
    frames = max(1, -(-max(n - EDGE, 0) // SAMPLES_PER_FRAME))
    return EDGE + frames * SAMPLES_PER_FRAME


def _numpy_globals() -> list:
    """NumPy scalar/dtype constructors that the published music2latent.pt pickles (hub scan: numpy.dtype,
    numpy.core.multiarray.scalar, _codecs.encode) besides tensors: allowed by name for weights_only loading."""
    import _codecs

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import scalar
    dtypes = getattr(np, "dtypes", None)  # NumPy >= 1.25; 1.24 has no dtype classes to allow
    dtype_classes = [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")] if dtypes else []
    return [(scalar, "numpy.core.multiarray.scalar"), scalar, np.dtype, *dtype_classes, _codecs.encode]


class Music2LatentAE(Autoencoder):
    requirements = Requirement(packages=(PACKAGE,), weights=(WEIGHTS.name,))
    stochastic = True  # decoding starts from Gaussian noise

    def __init__(
        self,
        weights_path: str | Path | None = None,
        random_init: bool = False,
        steps: int = 1,
        channels: int = 1,
        seed: int | None = 0,
        device: str = "cpu",
        max_waveform_length: int = 44100 * 60,
    ):
        import_optional(PACKAGE)
        from music2latent import hparams_inference, inference
        from music2latent.models import UNet

        self._inference = inference
        self._sigma_rescale = float(hparams_inference.sigma_rescale)
        self.device = torch.device(device)
        path = None if random_init else require_weights(WEIGHTS.name, weights_path)  # fail before building
        net = UNet()
        if path is None:
            self._provenance = Provenance(False, note="random initialisation (tests only)")
        else:
            net.load_state_dict(self._load_state(path), strict=True)
            self._provenance = Provenance(True, weights=WEIGHTS.name, path=str(path), sha256=sha256_of(path))
        self.net = net.to(self.device).eval()
        self._trainer = types.SimpleNamespace(gen=self.net)  # the package's functions expect `.gen`
        self.name = "music2latent"
        self.sample_rate = 44100
        self.channels = int(channels)
        self.latent_rate = self.sample_rate / SAMPLES_PER_FRAME
        self.latent_dim = 64 * self.channels
        self.steps = int(steps)
        self.seed = seed
        self.max_waveform_length = int(max_waveform_length)

    @staticmethod
    def _load_state(path: Path) -> dict[str, torch.Tensor]:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        try:
            with torch.serialization.safe_globals(_numpy_globals()):
                ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise M2L2Error(
                f"checkpoint cannot be loaded safely (weights_only=True), {why} ({path}): convert it once on "
                "a trusted machine to a .safetensors file holding only the network's state dict, and pass "
                "that"
            ) from e
        state = ckpt.get("gen_state_dict", ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise M2L2Error(
                f"checkpoint holds no 'gen_state_dict' ({path}): pass the music2latent.pt checkpoint"
            )
        return state

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = np.asarray(audio, dtype=np.float32)
        x = np.pad(x, ((0, 0), (0, _padded_length(x.shape[-1]) - x.shape[-1])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the package asks for CUDA autocast; on CPU torch warns and skips it
            return self._inference.encode_audio_inference(
                torch.from_numpy(x), self._trainer, self.max_waveform_length, 1, device=self.device
            ).cpu()

    def decode(self, latent: torch.Tensor, length: int | None = None) -> np.ndarray:
        with seeded(self.seed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wave = self._inference.decode_latent_inference(
                latent, self._trainer, self.max_waveform_length, 1, diffusion_steps=self.steps, device=self.device
            )
        y = wave.cpu().numpy().astype(np.float32)
        return y if length is None else y[:, :length]

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Mean over time of the encoder's features before the bottleneck (the package's extract_features)."""
        x = np.asarray(audio, dtype=np.float32)
        x = np.pad(x, ((0, 0), (0, _padded_length(x.shape[-1]) - x.shape[-1])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats = self._inference.encode_audio_inference(
                torch.from_numpy(x), self._trainer, self.max_waveform_length, 1, device=self.device,
                extract_features=True,
            )
        return feats.mean(dim=(0, -1)).cpu().numpy()
