"""The offline default suite: real recorded music, rendered notes/chorales/grooves and speech, built from
Debian packages into one folder with a manifest (see build.py and the part_*.py recipes)."""

from __future__ import annotations

import os
from pathlib import Path

PARTS = ("music", "notes", "key", "tags", "speech")


def default_root() -> Path:
    """$M2L2_DATA_DIR, else ~/.cache/m2l2/suite."""
    env = os.environ.get("M2L2_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "m2l2" / "suite"


def ensure_built(root: str | Path | None = None, parts: list[str] | None = None, small: bool = False) -> Path:
    """Build the missing or stale parts (a no-op when the manifest says they are complete); returns the root."""
    from benchmarks.suite.build import build
    from benchmarks.suite.manifest import read_manifest

    root = Path(root) if root is not None else default_root()
    wanted = list(parts or PARTS)
    manifest = read_manifest(root)
    missing = [p for p in wanted if p not in manifest["parts"] or not (root / p / "metadata.csv").is_file()
               or manifest["parts"][p]["config"].get("small") != small]
    if missing:
        build(root, missing, small=small)
    return root
