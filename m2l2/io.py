"""File helpers every package shares: atomic writes, file hashing and the audio suffixes read from folders.

A write goes to a temporary file beside its target and is renamed over it, so a killed run never leaves a
half-written file under the target's name (readers see the old file or the new one).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Audio files picked up when a folder is read as a dataset (lower-case suffixes).
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aif", ".aiff")


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()


@contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path to write `path` through; renamed over `path` when the block ends without error.

    `keep_suffix` keeps the target's suffix last (for writers that pick the format from it, e.g. savefig)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = (
        f".{path.stem}.{os.getpid()}.part{path.suffix}" if keep_suffix else f"{path.name}.{os.getpid()}.part"
    )
    tmp = path.with_name(name)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, data: Any) -> None:
    """Write indented JSON atomically (non-finite floats are an error: they are not JSON)."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_text_if_changed(path: str | Path, text: str) -> bool:
    """Write `text` unless the file already holds it (its date then stays); True when written."""
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex sha256 of an object's canonical JSON (sorted keys; non-JSON values by str): a cache key."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
