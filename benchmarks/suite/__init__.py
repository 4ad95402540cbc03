"""The offline default suite: real recorded music, rendered notes/chorales/grooves and speech, built from
Debian packages into one folder with a manifest (see build.py and the part_*.py recipes)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.datasets.suite import PARTS, TRAINING_PARTS, default_root

__all__ = ["PARTS", "TRAINING_PARTS", "default_root", "ensure_built", "stale_parts"]


def stale_parts(root: Path, parts: list[str], small: bool, check_hashes: bool = False) -> list[str]:
    """Parts that are missing, built by another recipe version or size, or have missing (or, with
    `check_hashes`, changed) files."""
    from benchmarks.suite.build import part_module
    from benchmarks.suite.manifest import read_manifest, verify

    manifest = read_manifest(root)
    out = []
    for part in parts:
        info = manifest["parts"].get(part)
        wanted = {"recipe": part_module(part).RECIPE_VERSION, "small": small}
        files = [rel for rel in manifest["files"] if rel.startswith(part + "/")]
        if (
            info is None
            or info.get("config") != wanted
            or not files
            or not all((root / rel).is_file() for rel in files)
            or (check_hashes and verify(root, [part]))
        ):
            out.append(part)
    return out


def ensure_built(
    root: str | Path | None = None,
    parts: list[str] | None = None,
    small: bool = False,
    check_hashes: bool = False,
) -> Path:
    """Build the missing or stale parts (a no-op when the manifest says they are complete); returns the root.
    The default check is cheap (manifest config + every listed file present); `check_hashes` also verifies
    every file's sha256."""
    from benchmarks.suite.build import build

    root = Path(root) if root is not None else default_root()
    missing = stale_parts(root, list(parts or PARTS), small, check_hashes)
    if missing:
        build(root, missing, small=small)
    return root
