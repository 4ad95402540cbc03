"""On-disk cache of embeddings, keyed by the audio's content and the embedder's identity.

A key is sha256(embedder identity, engine preprocessing, content hash). The content hash is the sha256 of
the file's bytes (or of the samples and rate of an in-memory clip), so editing or re-rendering a file gives
a new key and never a stale embedding; the same reference file is embedded once for every model compared.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from m2l2.io import atomic_path, sha256_file

# How the engine turns a file into the embedder's input; part of every key, bump it when that changes.
PREPROCESSING = "load_audio:mean-downmix+soxr-HQ-to-embedder-rate:v1"


def file_content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return "file:" + sha256_file(path)


def array_content_hash(audio: np.ndarray, sample_rate: int) -> str:
    """sha256 of in-memory samples (as float32), their shape and rate."""
    x = np.ascontiguousarray(audio, dtype=np.float32)
    digest = hashlib.sha256(f"{x.shape}|{sample_rate}|".encode())
    digest.update(x.tobytes())
    return "array:" + digest.hexdigest()


class EmbeddingCache:
    """`get`/`put` embeddings by key under `root` (None: no disk cache, every lookup misses)."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(identity: str, content_hash: str) -> str:
        return hashlib.sha256(f"{identity}\n{PREPROCESSING}\n{content_hash}".encode()).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        if self.root is not None:
            path = self._path(key)
            if path.is_file():
                try:
                    value = np.load(path, allow_pickle=False)
                except (OSError, ValueError):
                    value = None  # a truncated file from an interrupted run: recompute it
                if value is not None:
                    self.hits += 1
                    return value
        self.misses += 1
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        if self.root is None:
            return
        path = self._path(key)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(value))
