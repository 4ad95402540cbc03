"""Whether each adapter can run on this machine, and what to do when it cannot (for `m2l2 baselines list`)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from baselines.registry import AdapterSpec, specs
from m2l2 import weights as weights_mod
from m2l2.errors import M2L2Error


@dataclass
class AdapterInfo:
    name: str
    source: str
    description: str
    adapter_importable: bool = True
    paper_only: bool = False
    packages: dict[str, str] = field(default_factory=dict)  # module → "ok" or the import error
    weights: dict[str, str] = field(default_factory=dict)  # weights name → "present" or "missing"
    missing_args: list[str] = field(default_factory=list)  # options that must be passed to build it
    actions: list[str] = field(default_factory=list)
    note: str = ""
    licence: str = ""
    latent: str = ""  # "[9, T] at 86.13 Hz, 10 bit/value = 7.752 kbit/s, 91.02x" (from the library's config)

    @property
    def ready(self) -> bool:
        """Can be built with pretrained weights right now."""
        return (
            self.adapter_importable
            and not self.paper_only
            and all(v == "ok" for v in self.packages.values())
            and all(v == "present" for v in self.weights.values())
            and not self.missing_args
        )

    @property
    def state(self) -> str:
        if self.paper_only:
            return "paper-only"
        if not self.adapter_importable:
            return "broken"
        if any(v != "ok" for v in self.packages.values()):
            return "no-package"
        if any(v != "present" for v in self.weights.values()):
            return "no-weights"
        if self.missing_args:
            return "needs-args"
        return "ready"


def _import_error(module: str) -> str:
    try:
        importlib.import_module(module)
    except Exception as e:  # also OSError/RuntimeError from broken binary deps (torchaudio)
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
    return "ok"


def _describe(target: object, args: dict) -> str:
    """Latent layout and compression the adapter's library config implies, without building the model."""
    fn = getattr(target, "describe", None)
    if not callable(fn):
        return ""
    try:
        layout, sample_rate, channels = fn(**args)
    except Exception as e:  # the adapter's library is missing or broken: say so, list the rest
        return f"unknown here ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    return layout.describe(sample_rate, channels)


def _hub_actions(info: AdapterInfo, names: tuple[str, ...]) -> None:
    from baselines import hub

    for name in names:
        entry = hub.HUB[name]
        info.weights[name] = "present" if hub.status(entry) == "cached" else "missing"
        if info.weights[name] == "missing":
            gated = "; gated: accept the licence on the hub and log in (`hf auth login` or HF_TOKEN)" if entry.gated else ""
            info.actions.append(f"`{entry.fetch_command()}` (= `{entry.hf_command()}`; licence: {entry.licence}{gated})")


def inspect_spec(spec: AdapterSpec) -> AdapterInfo:
    info = AdapterInfo(spec.name, spec.source, spec.description)
    try:
        req = spec.requirements()
    except M2L2Error as e:
        info.adapter_importable = False
        info.actions.append(str(e))
        return info
    target = spec.load_target()
    info.licence = str(getattr(target, "licence", "") or "")
    info.latent = _describe(target, spec.args)
    info.paper_only = req.paper_only
    info.note = req.note
    for pkg in req.packages:
        info.packages[pkg.module] = _import_error(pkg.module)
        if info.packages[pkg.module] != "ok" and not req.paper_only:
            hint = f" ({pkg.note})" if pkg.note else ""
            info.actions.append(f"pip install {pkg.pip}{hint}")
    for name in req.weights:
        try:
            found = weights_mod.find_weights(name)
        except M2L2Error as e:
            info.weights[name] = "unknown"
            info.actions.append(str(e))
            continue
        info.weights[name] = "present" if found else "missing"
        if not found:
            entry = weights_mod.WEIGHTS[name]
            info.actions.append(
                f"download {entry.url} to {weights_mod.weights_dir() / entry.filename} "
                f"(or `m2l2 weights fetch {name}`; licence: {entry.licence or 'see source'})"
            )
    _hub_actions(info, req.hub)
    info.missing_args = [a for a in req.required_args if a not in spec.args]
    for a in info.missing_args:
        info.actions.append(f"pass {a}=... (e.g. `{spec.name}:{a}=VALUE` or baselines.get({spec.name!r}, {a}=...))")
    return info


def available() -> list[AdapterInfo]:
    """One AdapterInfo per known adapter (built-ins, entry points, YAML files), sorted by name."""
    return [inspect_spec(s) for _, s in sorted(specs().items())]
