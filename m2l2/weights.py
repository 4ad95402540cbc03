"""Where pretrained weights files live, and the one error that says which file is missing and where to get it.

Files that are not on the Hugging Face hub (embedders, older baselines) are registered here by the modules
that use them and looked up in the weights directory (`$M2L2_WEIGHTS_DIR`, default `~/.cache/m2l2/weights`);
hub files are resolved by `baselines.hub` through `huggingface_hub`. `m2l2 weights list|fetch`
(benchmarks/weights_cli.py) lists both kinds and downloads on request; nothing is fetched at run time.
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
        raise M2L2Error(
            f"unknown weights {name!r} (weights registry): use one of {', '.join(sorted(WEIGHTS)) or 'none'}"
        )
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
        raise M2L2Error(f"weights file not found ({path}): fix the path{source}")
    entry = WEIGHTS[name]  # find_weights has rejected unknown names
    raise M2L2Error(
        f"weights {name!r} missing ({weights_dir() / entry.filename}): "
        f"get it from {entry.url} (or run `m2l2 weights fetch {name}` on a machine with internet) "
        f"and place it there, or point M2L2_WEIGHTS_DIR at the folder that holds it"
    )


def fetch_weights(name: str) -> Path:
    """Download a known weights file into the weights directory and check its digest."""
    if name not in WEIGHTS:
        raise M2L2Error(
            f"unknown weights {name!r} (weights registry): use one of {', '.join(sorted(WEIGHTS))}"
        )
    entry = WEIGHTS[name]
    target = weights_dir() / entry.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        urllib.request.urlretrieve(entry.url, tmp)
    except OSError as e:
        raise M2L2Error(
            f"could not download {entry.url}, {e} ({target}): place the file there by hand"
        ) from e
    digest = sha256_of(tmp)
    if entry.sha256 and not digest.startswith(entry.sha256):
        tmp.unlink(missing_ok=True)
        raise M2L2Error(
            f"sha256 mismatch for {entry.filename}, got {digest}, expected {entry.sha256} ({entry.url}): "
            "nothing was kept; fetch it again, and report it if the published file changed"
        )
    tmp.replace(target)
    return target
