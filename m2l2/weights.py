"""Where pretrained weights live, and the one error that says which file is missing and where to get it.

Two kinds of weights. Files on the Hugging Face hub (the baselines on transformers, diffusers and
codicodec) are registered with `baselines.hub` and resolved by `huggingface_hub` in its own cache
(HF_HOME, HF_HUB_OFFLINE, tokens for gated repositories); `m2l2 weights fetch NAME` is a thin wrapper over
its `snapshot_download`. Other files are looked up in the weights directory (`$M2L2_WEIGHTS_DIR`, default
`~/.cache/m2l2/weights`), where `m2l2 weights fetch NAME` downloads a known file (with a sha256 check).
Nothing is fetched at run time unless the user asks for it.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from m2l2.errors import M2L2Error
from m2l2.io import sha256_file as sha256_of  # noqa: F401 (the name the adapters import)


@dataclass(frozen=True)
class WeightsFile:
    name: str  # short name used on the command line, e.g. "vggish"
    filename: str  # file name inside the weights directory
    url: str  # where a user with internet gets it
    sha256: str | None = None  # full hex digest, or a prefix of it; None where no digest is published
    licence: str = ""
    used_by: str = ""


WEIGHTS: dict[str, WeightsFile] = {}


def register_weights(entry: WeightsFile) -> WeightsFile:
    """Add a known weights file (adapters and embedders call this at import time)."""
    WEIGHTS[entry.name] = entry
    return entry


def weights_dir() -> Path:
    return Path(os.environ.get("M2L2_WEIGHTS_DIR", Path.home() / ".cache" / "m2l2" / "weights")).expanduser()


def find_weights(name: str, path: str | Path | None = None) -> Path | None:
    """The local file for `name` (an explicit `path` wins), or None when it is not there."""
    if path is not None:
        p = Path(path).expanduser()
        return p if p.is_file() else None
    entry = WEIGHTS.get(name)
    if entry is None:
        raise M2L2Error(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS)) or 'none'}")
    p = weights_dir() / entry.filename
    return p if p.is_file() else None


def require_weights(name: str, path: str | Path | None = None) -> Path:
    """The local file for `name`, or an M2L2Error naming the file, its source and where to place it."""
    found = find_weights(name, path)
    if found is not None:
        return found
    entry = WEIGHTS.get(name)
    if path is not None:
        source = "" if entry is None else (
            f" ({name!r} comes from {entry.url}; without an explicit path it is looked up at "
            f"{weights_dir() / entry.filename})")
        raise M2L2Error(f"weights file not found: {path}{source}")
    entry = WEIGHTS[name]  # find_weights has rejected unknown names
    raise M2L2Error(
        f"weights {name!r} missing: expected {weights_dir() / entry.filename}. "
        f"Get it from {entry.url} (or run `m2l2 weights fetch {name}` on a machine with internet) "
        f"and place it there, or point M2L2_WEIGHTS_DIR at the folder that holds it."
    )


def fetch_weights(name: str) -> Path:
    """Download a known weights file into the weights directory and check its digest."""
    if name not in WEIGHTS:
        raise M2L2Error(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    entry = WEIGHTS[name]
    target = weights_dir() / entry.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        urllib.request.urlretrieve(entry.url, tmp)
    except OSError as e:
        raise M2L2Error(f"could not download {entry.url}: {e}. Place the file at {target} by hand.") from e
    digest = sha256_of(tmp)
    if entry.sha256 and not digest.startswith(entry.sha256):
        tmp.unlink(missing_ok=True)
        raise M2L2Error(f"sha256 mismatch for {entry.filename}: got {digest}, expected {entry.sha256}")
    tmp.replace(target)
    return target


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="list or fetch pretrained weights files")
    s = p.add_subparsers(dest="weights_command", metavar="ACTION")
    ls = s.add_parser("list", help="known weights files and whether they are present")
    ls.set_defaults(func=_cmd_list)
    f = s.add_parser("fetch", help="download a weights file or hub snapshot (needs internet)")
    f.add_argument("name")
    f.add_argument("--revision", default=None, help="hub models: branch, tag or commit (default: the registered one)")
    f.set_defaults(func=_cmd_fetch)
    p.set_defaults(func=_cmd_list)


def _hub_registry() -> dict:
    try:
        from baselines import hub
    except ImportError:
        return {}
    return hub.HUB


def _cmd_fetch(args) -> int:
    """Hub models through huggingface_hub (its cache, token and progress bars); other files by URL."""
    _import_known_providers()
    hub_models = _hub_registry()
    if args.name in hub_models:
        from baselines import hub

        found = hub.fetch(hub_models[args.name], args.revision)
        print(f"{found.label}: {', '.join(str(p) for p in found.files.values())}")
        return 0
    if args.name not in WEIGHTS:
        known = sorted([*WEIGHTS, *hub_models])
        raise M2L2Error(f"unknown weights {args.name!r} (m2l2 weights fetch): known: {', '.join(known)}")
    print(fetch_weights(args.name))
    return 0


def _cmd_list(args) -> int:
    _import_known_providers()
    hub_models = _hub_registry()
    if hub_models:
        from baselines import hub

        print(f"hub cache: {hub.hub_cache_dir()}  (HF_HOME / HF_HUB_CACHE)")
        for entry in sorted(hub_models.values(), key=lambda e: e.name):
            print(f"  {entry.name:24s} {hub.status(entry):8s} {entry.repo_id}: {', '.join(entry.files)}  "
                  f"[{entry.licence}]")
    print(f"weights directory: {weights_dir()}  (set M2L2_WEIGHTS_DIR to change)")
    for entry in sorted(WEIGHTS.values(), key=lambda e: e.name):
        state = "present" if find_weights(entry.name) else "missing"
        print(f"  {entry.name:24s} {state:8s} {entry.filename}  <- {entry.url}")
    return 0


# Modules that register weights files when imported; missing optional modules are skipped.
PROVIDER_MODULES = ["benchmarks.embedders", "baselines"]


def _import_known_providers() -> None:
    import importlib

    for name in PROVIDER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
