"""Provenance of a result file: when, from which commit, with which packages, on which machine, which weights."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = (
    "m2l2",
    "numpy",
    "scipy",
    "torch",
    "soxr",
    "soundfile",
    "av",
    "visqol-python",
    "musicnn",
    "laion-clap",
    "music2latent",
    "pyyaml",
    "tqdm",
)


def installed_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each of `packages` (absent ones are left out)."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def package_versions() -> dict[str, str]:
    """Python and the installed versions of the packages results depend on."""
    return {"python": sys.version.split()[0], **installed_versions(PACKAGES)}


def git_state() -> dict[str, Any]:
    """Commit of the checkout the code runs from, and whether tracked files differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def device_info() -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "host": platform.node(),
    }
    try:
        import torch

        info["torch_cuda"] = torch.cuda.is_available()
        if info["torch_cuda"]:
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def run_provenance(codes: dict[str, str]) -> dict[str, Any]:
    """Date, git state, package versions, device and the code versions (`codes`) of a result file."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "versions": package_versions(),
        "device": device_info(),
        "codes": codes,
    }


def provenance(models_out: list[dict[str, Any]], codes: dict[str, str]) -> dict[str, Any]:
    """`run_provenance` with the weights of each model (entries with `label` and `identity`)."""
    out = run_provenance(codes)
    del out["codes"]  # re-added last: the key order of the result files
    out["weights"] = {
        m["label"]: {k: m["identity"]["provenance"].get(k) for k in ("weights", "sha256", "note")}
        for m in models_out
    }
    out["codes"] = codes
    return out
