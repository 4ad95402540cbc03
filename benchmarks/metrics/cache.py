"""On-disk cache of embeddings, keyed by the audio's content and the embedder's identity.

A key is sha256(embedder identity, engine preprocessing, content hash). The content hash is the sha256 of
the file's bytes (or of the samples and rate of an in-memory clip), so editing or re-rendering a file gives
a new key and never a stale embedding; the same reference file is embedded once for every model compared.

Every array is validated when it is read back: the checksum, size, shape and dtype recorded when it was
written (`m2l2.io.write_check`), and finite values. An entry that fails (cut, overwritten, empty, written
without a record by an older version) is a cache miss: it is deleted, named in one log line and rebuilt.
Non-finite embeddings are never cached.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from m2l2.io import atomic_path, check_problem, discard, read_check, sha256_file, write_check

log = logging.getLogger(__name__)

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


def save_array(path: str | Path, value: np.ndarray) -> None:
    """Write an array atomically, then its checksum record (shape and dtype included)."""
    value = np.asarray(value)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, value, allow_pickle=False)
    write_check(path, shape=list(value.shape), dtype=str(value.dtype))


def array_problem(path: Path) -> tuple[np.ndarray | None, str | None]:
    """(the array, None) when `path` reads back as written and holds only finite values, else (None, why)."""
    record = read_check(path)
    problem = check_problem(path, record)
    if problem is not None:
        return None, problem
    try:
        value = np.load(path, allow_pickle=False)
    except Exception as e:  # EOFError, ValueError, OSError, ...: any unreadable file is a miss
        return None, f"unreadable: {type(e).__name__}: {e}"
    assert record is not None
    if list(value.shape) != record.get("shape") or str(value.dtype) != record.get("dtype"):
        return None, f"shape {value.shape} {value.dtype}, written as {record.get('shape')} {record.get('dtype')}"
    if not np.isfinite(value).all():
        return None, "non-finite values"
    return value, None


def load_array(path: str | Path, what: str = "array") -> np.ndarray | None:
    """A cached array, or None (a miss) when absent or damaged; a damaged one is deleted and logged once."""
    path = Path(path)
    if not path.is_file():
        return None
    value, problem = array_problem(path)
    if problem is None:
        return value
    if read_check(path) is None and path.stat().st_size > 0 and problem.startswith("no checksum"):
        log.debug("%s %s has no checksum record (an older version wrote it): rebuilding it", what, path)
    else:
        log.warning("cached %s %s is damaged (%s): rebuilding it", what, path, problem)
    discard(path)
    return None


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
            value = load_array(self._path(key), "embedding")
            if value is not None and value.ndim == 2:
                self.hits += 1
                return value
        self.misses += 1
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        """Store an embedding; non-finite ones are not kept (the metric reports them instead)."""
        if self.root is None or not np.isfinite(value).all():
            return
        save_array(self._path(key), value)
