"""Model configuration as data: a dataclass, named YAML files in `m2l2/configs/`, dotted overrides."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from m2l2.errors import M2L2Error

CONFIG_DIR = Path(__file__).parent / "configs"
MIN_GROUP_CHANNELS = 4  # channels per GroupNorm group at least
# Options of earlier versions and the value at which they changed nothing (investigation options, and the
# settings of the 2026-11 `tiny` checkpoints that were replaced): a checkpoint that sets another value
# cannot be rebuilt by this version.
RETIRED_OPTIONS = {"cross_depatchifier": False, "head_cross": False, "cross_gain": False, "noise_scale": 1.0,
                   "norm_min_channels": 4}


@dataclass
class ModelConfig:
    """Architecture of the three modules (Sec. IV-2 and IV-5 of the Music2Latent2 paper)."""

    channels: int = 1  # audio channels: 1 mono, 2 stereo (4 spectrogram channels)
    latent_kind: str = "summary"  # "summary" (K learned summary tokens) or "ordered" (Table I ablation)
    num_latents: int = 8  # K summary embeddings per chunk
    latent_dim: int = 64  # d_lat
    chunk_frames: int = 64  # spec_length: STFT frames per chunk
    # Convolutional (de-)patchifier: one entry per resolution; a down-sampling step between entries.
    level_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 256, 256, 256])
    level_blocks: list[int] = field(default_factory=lambda: [3, 3, 3, 4, 5, 1])
    # (frequency, time) factor of each down-sampling step; the first divides frequency by 4 only.
    down_factors: list[list[int]] = field(
        default_factory=lambda: [[4, 1], [2, 2], [2, 2], [2, 2], [2, 2]]
    )
    dim: int = 256  # transformer width
    depth: int = 16  # transformer blocks per module
    heads: int = 4
    mlp_mult: int = 4
    noise_channels: int = 256  # sinusoidal noise-level embedding
    adaln: str = "shared"  # AdaLN of the consistency transformer: "shared" (adaLN-single) or "per_block" (DiT)
    dropout: float = 0.0
    norm_groups: int = 32
    # A 1x1 conv on the decoder's full-resolution features that predicts the chunk's (compressed) magnitude
    # spectrogram, trained with train.magnitude_weight. Not in the paper: it gives the latents a direct
    # training signal from step 0 (short CPU runs collapsed without it; see the tiny model cards).
    magnitude_head: bool = False
    # Upstream Music2Latent's `frequency_scaling`: σ-conditioned gains per frequency bin, (1 + s_in(σ)) on the
    # stem's features and (1 + s_out(σ)) before the output convolution, both zero-initialised. They are the
    # only noise-level conditioning at full resolution: at high σ the stem's features are pure noise and
    # the gain can mute them. Not in the Music2Latent2 paper; the committed `tiny` checkpoints use it.
    frequency_scaling: bool = False

    def __post_init__(self) -> None:
        if self.channels not in (1, 2):
            raise M2L2Error(f"model.channels is {self.channels} (model.channels): use 1 or 2")
        if self.latent_kind not in ("summary", "ordered"):
            raise M2L2Error(
                f"unknown latent kind {self.latent_kind!r} (model.latent_kind): use 'summary' or 'ordered'"
            )
        if len(self.level_blocks) != len(self.level_channels):
            raise M2L2Error(
                f"{len(self.level_blocks)} level_blocks for {len(self.level_channels)} level_channels "
                "(model.level_blocks, model.level_channels): give both lists the same length"
            )
        if len(self.down_factors) != len(self.level_channels) - 1:
            raise M2L2Error(
                f"{len(self.down_factors)} down_factors for {len(self.level_channels)} levels "
                "(model.down_factors): give one (freq, time) pair between consecutive levels"
            )
        if self.level_channels[-1] != self.dim:
            raise M2L2Error(
                f"the last level's channels, {self.level_channels[-1]}, differ from the transformer width "
                f"{self.dim} (model.level_channels, model.dim): make them equal"
            )
        if self.chunk_frames % self.time_down != 0 or 1024 % self.freq_down != 0:
            raise M2L2Error(
                f"chunk_frames {self.chunk_frames} and the 1024 bins are not divisible by the total "
                f"down-sampling {self.time_down} x {self.freq_down} (model.chunk_frames, "
                "model.down_factors): choose factors whose products divide them"
            )
        if self.latent_kind == "ordered" and (self.num_latents * self.latent_dim) % self.token_times:
            raise M2L2Error(
                f"ordered latents: K*d_lat = {self.num_latents * self.latent_dim} does not divide evenly "
                f"over the {self.token_times} time steps of a chunk (model.num_latents, model.latent_dim): "
                f"choose K and d_lat whose product is a multiple of {self.token_times}"
            )

    def groups_for(self, channels: int) -> int:
        """GroupNorm groups for a `channels`-wide layer: at most norm_groups, at least 4 channels each
        (upstream: min(C // 4, 32) groups)."""
        return math.gcd(min(self.norm_groups, max(channels // MIN_GROUP_CHANNELS, 1)), channels)

    @property
    def freq_down(self) -> int:
        return math.prod(f for f, _ in self.down_factors)

    @property
    def time_down(self) -> int:
        return math.prod(t for _, t in self.down_factors)

    @property
    def token_freqs(self) -> int:
        return 1024 // self.freq_down

    @property
    def token_times(self) -> int:
        return self.chunk_frames // self.time_down

    @property
    def tokens_per_chunk(self) -> int:
        return self.token_freqs * self.token_times

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(L, D) of one chunk's latents: K×d_lat for summary, steps×values-per-step for ordered."""
        if self.latent_kind == "summary":
            return self.num_latents, self.latent_dim
        return self.token_times, self.num_latents * self.latent_dim // self.token_times

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a mapping; unknown keys are an error. Options that were removed are accepted at the
        value that meant "off" (older checkpoints record them) and refused otherwise."""
        d = dict(d)
        for name, inert in RETIRED_OPTIONS.items():
            value = d.pop(name, inert)
            if value != inert:
                raise M2L2Error(
                    f"model.{name} was removed and this configuration sets it (model.{name}={value}): "
                    "load it with m2l2 at commit 60721f4 or earlier, or drop the option"
                )
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise M2L2Error(
                f"unknown model config keys {sorted(unknown)} (model): use known keys: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**copy.deepcopy(d))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def normalise(cls, d: dict[str, Any]) -> dict[str, Any]:
        """The mapping this version writes for `d` (retired options dropped): compare configurations with it."""
        return cls.from_dict(d).to_dict()


def named_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def apply_overrides(cfg: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply `section.key=value` overrides (values parsed as YAML: numbers, lists, booleans)."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise M2L2Error(
                f"override {item!r} has no '=' (--set): write it as section.key=value, e.g. model.dim=128"
            )
        key, value = item.split("=", 1)
        node = cfg
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise M2L2Error(
                    f"override {item!r} sets a key inside {part}, which is not a section (--set): write it "
                    "as section.key=value"
                )
        node[parts[-1]] = _parse_value(value)
    return cfg


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """A named configuration (`paper`, `tiny`, ...) or a YAML file → dict with `model` and `train` sections.

    A YAML file may start from a named configuration with `base: NAME`.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise M2L2Error(
                f"unknown configuration {name_or_path!r} ({path}): give a YAML file or one of the named "
                f"ones: {', '.join(named_configs())}"
            )
    if not path.is_file():
        raise M2L2Error(
            f"configuration file not found ({path}): fix the path, or name one of: "
            f"{', '.join(named_configs())}"
        )
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    base = cfg.pop("base", None)
    if base:
        parent = load_config(base)
        for section, values in cfg.items():
            if isinstance(values, dict):
                parent.setdefault(section, {}).update(values)
            else:
                parent[section] = values
        cfg = parent
    cfg.setdefault("model", {})
    cfg.setdefault("train", {})
    return apply_overrides(cfg, overrides)
