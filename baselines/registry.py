"""Find autoencoders by name: built-ins, entry points (`m2l2.autoencoders`) and YAML files.

A third-party package exposes its adapter without touching this project:

    # its pyproject.toml
    [project.entry-points."m2l2.autoencoders"]
    my-ae = "my_package.adapter:MyAutoencoder"

or a YAML file (passed with `--autoencoders FILE`, or listed in $M2L2_AUTOENCODERS, os.pathsep-separated):

    autoencoders:
      my-ae:
        import: my_package.adapter:MyAutoencoder
        args: {bitrate: 6000}
        path: ../src            # optional, added to sys.path (relative to the YAML file)
        description: what it is
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from baselines.interface import Autoencoder, Requirement
from m2l2.errors import M2L2Error

ENTRY_POINT_GROUP = "m2l2.autoencoders"
YAML_ENV = "M2L2_AUTOENCODERS"


@dataclass
class AdapterSpec:
    """How to build one named autoencoder: an import target plus default arguments."""

    name: str
    target: str  # "package.module:Attribute" (a class or a factory returning an Autoencoder)
    args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = "built-in"
    sys_path: str | None = None  # directory to put on sys.path before importing (YAML `path:`)

    def load_target(self) -> Any:
        module_name, _, attr = self.target.partition(":")
        if not module_name or not attr:
            raise M2L2Error(
                f"bad import target {self.target!r} for {self.name} ({self.source}): write it as "
                "'package.module:Name'"
            )
        if self.sys_path and self.sys_path not in sys.path:
            sys.path.insert(0, self.sys_path)
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as e:
            raise M2L2Error(
                f"cannot import {module_name!r} for {self.name}, {e} ({self.source}): install the package or "
                "fix the import target"
            ) from e
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise M2L2Error(
                    f"{module_name!r} has no attribute {attr!r} for {self.name} ({self.source}): fix the "
                    "name after ':' in the import target"
                )
            obj = getattr(obj, part)
        return obj

    def requirements(self) -> Requirement:
        """What the adapter needs, without constructing it (class attribute or `requirements_for(**args)`)."""
        target = self.load_target()
        fn = getattr(target, "requirements_for", None)
        if callable(fn):
            return fn(**self.args)
        req = getattr(target, "requirements", None)
        return req if isinstance(req, Requirement) else Requirement()

    def build(self, **options: Any) -> Autoencoder:
        target = self.load_target()
        kwargs = {**self.args, **options}
        try:
            ae = target(**kwargs)
        except TypeError as e:
            if "argument" not in str(e):
                raise
            raise M2L2Error(
                f"bad options {sorted(kwargs)} for {self.name}, {e} ({self.source}: {self.target}): pass "
                "only the options its constructor takes"
            ) from e
        if not isinstance(ae, Autoencoder):
            raise M2L2Error(
                f"{self.target} built a {type(ae).__name__}, not a baselines.Autoencoder subclass, for "
                f"{self.name} ({self.source}): point the import target at an Autoencoder subclass or a "
                "factory returning one"
            )
        return ae


_BUILTINS: list[AdapterSpec] = [
    AdapterSpec("identity", "baselines.adapters.codecs:Identity", description="no compression (upper bound)"),
    AdapterSpec("opus-11kbps", "baselines.adapters.codecs:AVCodec", {"codec": "opus", "bitrate": 11025},
                "Opus CBR 11.025 kbps = 64x of 16-bit 44.1 kHz mono"),
    AdapterSpec("opus-6kbps", "baselines.adapters.codecs:AVCodec", {"codec": "opus", "bitrate": 6000},
                "Opus CBR 6 kbps (~118x)"),
    AdapterSpec("mp3-11kbps", "baselines.adapters.codecs:AVCodec", {"codec": "mp3", "bitrate": 11025},
                "MP3 (LAME ABR at 11.025 kHz) ~11 kbps = 64x"),
    AdapterSpec("mp3-8kbps", "baselines.adapters.codecs:AVCodec", {"codec": "mp3", "bitrate": 8000},
                "MP3 (LAME CBR at 8 kHz) 8 kbps, LAME's lowest rate (~88x); MP3 cannot go to 6 kbps"),
    AdapterSpec("music2latent2", "baselines.adapters.music2latent2:Music2Latent2AE", {"variant": "mono"},
                "this project's model (pass checkpoint=PATH)"),
    AdapterSpec("music2latent2-stereo", "baselines.adapters.music2latent2:Music2Latent2AE", {"variant": "stereo"},
                "this project's stereo model (checkpoint=PATH), 128x"),
    AdapterSpec("music2latent2-ordered", "baselines.adapters.music2latent2:Music2Latent2AE",
                {"variant": "ordered"}, "ablation: ordered latents instead of summary embeddings"),
    AdapterSpec("music2latent", "baselines.adapters.music2latent:Music2LatentAE",
                description="Music2Latent (Pasini et al. 2024), 64x, 1 decoding step"),
    AdapterSpec("dac-44khz", "baselines.adapters.dac:DACAE", {"latent": "codes"},
                "Descript Audio Codec 44 kHz via transformers: RVQ codes"),
    AdapterSpec("dac-44khz-quantized", "baselines.adapters.dac:DACAE", {"latent": "quantized"},
                "DAC 44 kHz via transformers: the continuous z the decoder reads"),
    AdapterSpec("encodec-24khz", "baselines.adapters.encodec:EncodecAE", {"variant": "24khz"},
                "EnCodec 24 kHz mono via transformers: RVQ codes at 6 kbit/s (the paper-comparable rate)"),
    AdapterSpec("encodec-48khz", "baselines.adapters.encodec:EncodecAE", {"variant": "48khz"},
                "EnCodec 48 kHz stereo via transformers: RVQ codes at 24 kbit/s (the paper-comparable rate)"),
    AdapterSpec("encodec-24khz-continuous", "baselines.adapters.encodec:EncodecAE",
                {"variant": "24khz", "latent": "continuous"}, "EnCodec 24 kHz via transformers: unquantised encoder embeddings"),
    AdapterSpec("encodec-48khz-continuous", "baselines.adapters.encodec:EncodecAE",
                {"variant": "48khz", "latent": "continuous"}, "EnCodec 48 kHz via transformers: unquantised encoder embeddings"),
    AdapterSpec("stable-audio-vae", "baselines.adapters.stable_audio:StableAudioVAE",
                description="Stable Audio Open 1.0 VAE via diffusers (AutoencoderOobleck), stereo"),
    AdapterSpec("same-s", "baselines.adapters.same:SAMEAE", {"size": "s"},
                "SAME-S (Stable Audio 3 small) via diffusers (AutoencoderSAME), stereo"),
    AdapterSpec("same-l", "baselines.adapters.same:SAMEAE", {"size": "l"},
                "SAME-L (Stable Audio 3 medium) via diffusers (AutoencoderSAME), stereo"),
    AdapterSpec("codicodec", "baselines.adapters.codicodec:CoDiCodecAE", {"latent": "continuous", "mode": "parallel"},
                "CoDiCodec (package codicodec): continuous latents, parallel decoding, stereo"),
    AdapterSpec("codicodec-ar", "baselines.adapters.codicodec:CoDiCodecAE",
                {"latent": "continuous", "mode": "autoregressive"},
                "CoDiCodec: continuous latents, autoregressive decoding (time_prompt = sigma_cond option)"),
    AdapterSpec("codicodec-discrete", "baselines.adapters.codicodec:CoDiCodecAE", {"latent": "discrete"},
                "CoDiCodec: discrete FSQ tokens, parallel decoding"),
    AdapterSpec("mousai-v2", "baselines.adapters.mousai:MousaiAE", {"version": "v2"},
                "Mousai diffusion autoencoder v2 (dmae1d-ATC64-v2), stereo 64x"),
    AdapterSpec("mousai-v3", "baselines.adapters.mousai:MousaiAE", {"version": "v3"},
                "Mousai diffusion autoencoder v3 (dmae1d-ATC32-v3), stereo 32x"),
    AdapterSpec("musika", "baselines.adapters.musika:MusikaAE",
                description="Musika autoencoder (PyTorch port reading its Keras .h5 weights), mono 64x"),
    AdapterSpec("latmusic", "baselines.adapters.latmusic:LatMusic",
                description="LatMusic: no public code or weights; paper numbers only"),
]


def _entry_point_specs() -> list[AdapterSpec]:
    specs = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"entry point of {dist.name}" if dist is not None else "entry point"
        specs.append(AdapterSpec(ep.name, ep.value.replace(" ", ""), source=origin))
    return specs


def load_yaml(path: str | Path) -> list[AdapterSpec]:
    """Adapter specs from a YAML file (format in the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise M2L2Error(f"autoencoder list not found ({path}): fix the path of the YAML file")
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("autoencoders") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise M2L2Error(
            f"no mapping under the top-level key 'autoencoders' ({path}): list the adapters there as "
            "NAME: {import: package.module:Class}"
        )
    specs = []
    for name, entry in entries.items():
        if not isinstance(entry, dict) or "import" not in entry:
            raise M2L2Error(
                f"autoencoder {name!r} has no import key ({path}: autoencoders.{name}): add "
                "'import: package.module:Class'"
            )
        args = entry.get("args") or {}
        if not isinstance(args, dict):
            raise M2L2Error(
                f"args of {name!r} is not a mapping ({path}: autoencoders.{name}.args): write key: value "
                "lines"
            )
        sys_path = entry.get("path")
        if sys_path is not None:
            sys_path = str((path.parent / sys_path).resolve())
        specs.append(AdapterSpec(str(name), str(entry["import"]), dict(args), str(entry.get("description", "")),
                                 source=f"yaml {path}", sys_path=sys_path))
    return specs


_EXTRA_YAML: list[Path] = []


def add_yaml(path: str | Path) -> None:
    """Make the adapters of a YAML file visible to `get`/`specs` for the rest of the process."""
    load_yaml(path)  # validate now
    _EXTRA_YAML.append(Path(path))


def specs() -> dict[str, AdapterSpec]:
    """All known adapters by name; later sources (entry points, then YAML files) override built-ins."""
    out = {s.name: s for s in _BUILTINS}
    out.update({s.name: s for s in _entry_point_specs()})
    yaml_files = [Path(p) for p in os.environ.get(YAML_ENV, "").split(os.pathsep) if p] + _EXTRA_YAML
    for p in yaml_files:
        out.update({s.name: s for s in load_yaml(p)})
    return out


def parse_spec(text: str) -> tuple[str, dict[str, Any]]:
    """'opus-6kbps' or 'music2latent2:checkpoint=run/ema.safetensors,steps=2' → (name, options)."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise M2L2Error(f"bad option {item!r} ({text}): write options as name:key=value,key=value")
        options[key.strip()] = yaml.safe_load(value)
    return name.strip(), options


def get(name: str, **options: Any) -> Autoencoder:
    """Build the autoencoder registered under `name` (options override its default arguments)."""
    if ":" in name:
        name, parsed = parse_spec(name)
        options = {**parsed, **options}
    known = specs()
    if name not in known:
        raise M2L2Error(
            f"unknown autoencoder {name!r} (baselines registry): use one of {', '.join(sorted(known))}; "
            "`m2l2 baselines list` shows them all"
        )
    return known[name].build(**options)
