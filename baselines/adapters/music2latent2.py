"""This project's Music2Latent2 (any checkpoint), with how it decodes as typed options (`DecodingOptions`).

Variants: `mono` (paper, 64x), `stereo` (128x), `ordered` (Table I ablation). A checkpoint's own config
decides the architecture; the variant only checks that it matches. Without a checkpoint, `build=NAME`
gives an untrained model (pretrained=False: usable in tests, never in result tables).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from baselines.interface import Autoencoder, Package, Provenance, Requirement
from m2l2.autoencoder import DECODE_MODES, DEFAULT_SIGMA_COND
from m2l2.errors import M2L2Error
from m2l2.weights import sha256_of


@dataclass(frozen=True)
class DecodingOptions:
    """How latents become audio; the YAML options `sigma_cond`, `steps`, `redecode_previous`, `decode_mode`
    set them (see `m2l2.Music2Latent2.decode` for the two modes)."""

    sigma_cond: float = DEFAULT_SIGMA_COND  # noise level of the re-decoded previous chunk
    steps: int = 1  # consistency sampling steps per chunk
    redecode_previous: bool = True  # False: one-step decoding (the Fig. 3 reference line)
    independent_chunks: bool = False  # every chunk decoded alone from pure noise (the seams experiment)
    decode_mode: str = "autoregressive"  # or "parallel": all chunks at once, then one batched refinement pass

    def __post_init__(self) -> None:
        if self.decode_mode not in DECODE_MODES:
            raise M2L2Error(
                f"unknown decode_mode {self.decode_mode!r} (option decode_mode): use one of "
                f"{', '.join(DECODE_MODES)}"
            )

    def replace(self, **changes) -> DecodingOptions:
        return dataclasses.replace(self, **changes)


def _checkpoint_provenance(path: Path) -> Provenance:
    """Name, step and sha256 of the tensors file behind any form of checkpoint path m2l2.load accepts."""
    from m2l2.checkpoint import resolve_checkpoint

    sidecar = resolve_checkpoint(path)
    meta = json.loads(sidecar.read_text())
    tensors = sidecar.parent / meta.get("tensors", sidecar.with_suffix(".safetensors").name)
    return Provenance(True, weights=f"m2l2 {sidecar.stem} (step {meta.get('step')})", path=str(tensors),
                      sha256=sha256_of(tensors) if tensors.is_file() else None)


VARIANTS = {"mono": (1, "summary"), "stereo": (2, "summary"), "ordered": (1, "ordered")}


def _adapter_name(variant: str) -> str:
    """The registry name of a variant's adapter: what a configuration's `baseline:` names."""
    return "music2latent2" if variant == "mono" else f"music2latent2-{variant}"


class Music2Latent2AE(Autoencoder):
    requirements = Requirement(
        packages=(Package("m2l2", "-e . (this project)"),),
        required_args=("checkpoint",),
        note="pass checkpoint=PATH (a trained m2l2 checkpoint); build=NAME gives random weights for tests",
    )
    stochastic = True

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        variant: str = "mono",
        build: str | None = None,
        sigma_cond: float = DecodingOptions.sigma_cond,
        steps: int = DecodingOptions.steps,
        redecode_previous: bool = DecodingOptions.redecode_previous,
        decode_mode: str = DecodingOptions.decode_mode,
        seed: int | None = 0,
        device: str = "cpu",
        max_batch: int = 16,
    ):
        import m2l2

        if variant not in VARIANTS:
            raise M2L2Error(
                f"unknown Music2Latent2 variant {variant!r} (option variant): use one of "
                f"{', '.join(sorted(VARIANTS))}"
            )
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.exists():
                raise M2L2Error(
                    f"Music2Latent2 checkpoint not found ({path}): check the path; checkpoint= takes a "
                    "step-*.json file or a training run folder"
                )
            self.model = m2l2.load(str(path), device=device)
            self._provenance = _checkpoint_provenance(path)
        elif build is not None:
            self.model = m2l2.build(build).to(device)
            self._provenance = Provenance(False, weights=None, note=f"untrained m2l2.build({build!r})")
        else:
            raise M2L2Error(
                f"no weights for Music2Latent2 variant {variant!r}, this re-implementation has no official "
                "ones (option checkpoint): pass checkpoint=PATH, a trained m2l2 checkpoint (e.g. from "
                "`m2l2 train`), or build=NAME (e.g. build=tiny) for an untrained model in tests"
            )
        self.model.eval()
        channels, kind = VARIANTS[variant]
        cfg = self.model.config
        if (cfg.channels, cfg.latent_kind) != (channels, kind):
            source = f"checkpoint {path}" if checkpoint is not None else f"build={build}"
            fits = [v for v, layout in VARIANTS.items() if layout == (cfg.channels, cfg.latent_kind)]
            fix = (f"use variant={fits[0]} ({_adapter_name(fits[0])})" if fits
                   else f"use a model one of the variants takes ({', '.join(VARIANTS)})")
            raise M2L2Error(
                f"variant {variant!r} expects channels={channels}, latent_kind={kind!r}, but the model has "
                f"channels={cfg.channels}, latent_kind={cfg.latent_kind!r} (option variant, {source}): {fix}"
            )
        self.name = _adapter_name(variant)
        self.variant = variant
        self.sample_rate = int(self.model.sample_rate)
        self.channels = int(cfg.channels)
        self.latent_rate = float(self.model.sample_rate) / float(self.model.chunk_samples)
        length, dim = cfg.latent_shape
        self.latent_dim = int(length * dim)
        self.decoding = DecodingOptions(float(sigma_cond), int(steps), bool(redecode_previous),
                                        decode_mode=str(decode_mode))
        self.seed = seed
        self.max_batch = int(max_batch)
        self.latent_memo = 0  # sweeps set this: how many encoded inputs to keep (10 s of tiny: 28 KB each)
        self._latents: OrderedDict[str, torch.Tensor] = OrderedDict()

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        """Audio [C, N] → latents [T, L, D]. Encoding is deterministic, so with `latent_memo` > 0 the latents of
        that many recent inputs are kept by content: a sweep that decodes the same clips with many decoding
        settings (Fig. 3, seams) encodes each clip once. Off by default (the speed table times encoding)."""
        if not self.latent_memo:
            return self.model.encode(audio, self.sample_rate, max_batch=self.max_batch)[0]  # [T, L, D]
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        key = hashlib.blake2b(audio.tobytes(), digest_size=16).hexdigest() + str(audio.shape)
        latent = self._latents.get(key)
        if latent is None:
            latent = self.model.encode(audio, self.sample_rate, max_batch=self.max_batch)[0]
            self._latents[key] = latent
            if len(self._latents) > self.latent_memo:
                self._latents.popitem(last=False)
        else:
            self._latents.move_to_end(key)
        return latent.clone()

    def with_decoding(self, **changes) -> Music2Latent2AE:
        """A copy of this adapter whose default decoding has `changes` applied (`DecodingOptions` fields),
        for code that reconstructs through the generic `decode` (e.g. the Fig. 3 sweep). It shares the model
        and the latent memo, so a sweep still encodes each clip once; this adapter's `decoding` is unchanged."""
        other = copy.copy(self)
        other.decoding = self.decoding.replace(**changes)
        return other

    @property
    def chunk_frames(self) -> int:
        """STFT frames per latent chunk (hop 512): where chunk boundaries fall."""
        return int(self.model.config.chunk_frames)

    @property
    def chunk_seconds(self) -> float:
        return self.model.chunk_samples / self.model.sample_rate

    def decode(self, latent: torch.Tensor, length: int | None = None, options: DecodingOptions | None = None,
               seed: int | None = None) -> np.ndarray:
        """Latents [T, L, D] → audio [C, N], decoded as `options` say (default: this adapter's `decoding`),
        with decoding noise from `seed` (default: the adapter's seed; None in both: unseeded)."""
        opts = options or self.decoding
        seed = self.seed if seed is None else seed
        gen = None if seed is None else torch.Generator().manual_seed(int(seed))
        if opts.independent_chunks:
            return self._decode_independent(latent, length, opts, gen)
        wave = self.model.decode(latent[None], sigma_cond=opts.sigma_cond, steps=opts.steps, length=length,
                                 generator=gen, redecode_previous=opts.redecode_previous, mode=opts.decode_mode,
                                 max_batch=self.max_batch)
        return wave[0].cpu().numpy()

    def _decode_independent(self, latent: torch.Tensor, length: int | None, opts: DecodingOptions,
                            gen: torch.Generator | None) -> np.ndarray:
        """Every chunk its own one-chunk item (first-chunk mode), `max_batch` at a time, waveforms concatenated."""
        alone = latent[:, None]  # [T, 1, L, D]
        step = max(1, self.max_batch)
        chunks = torch.cat([self.model.decode(alone[i : i + step], sigma_cond=opts.sigma_cond, steps=opts.steps,
                                              generator=gen) for i in range(0, len(alone), step)])  # [T, C, chunk]
        return torch.cat(list(chunks), dim=-1)[..., :length].cpu().numpy()

    def embed(self, audio: np.ndarray) -> np.ndarray:
        return self.model.embed(audio, self.sample_rate, max_batch=self.max_batch)[0].cpu().numpy()
