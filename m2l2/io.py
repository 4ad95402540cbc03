"""File helpers every package shares: atomic writes, file hashing, checksum records of cached files and the
audio suffixes read from folders.

A write goes to a temporary file beside its target, is flushed to disk (file, then folder) and is renamed
over it, so neither a killed run nor a power cut leaves a half-written or empty file under the target's
name (readers see the old file or the new one).

A cached file that a later run reuses gets a checksum record beside it (`<name>.check.json`: sha256, size
and what the writer knew about it), written after the file. A reader that finds the file changed, cut or
without its record treats it as a cache miss and rebuilds it, so a damaged cache never reaches a number.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CHECK_SUFFIX = ".check.json"  # the checksum record beside a cached file

# Audio files picked up when a folder is read as a dataset (lower-case suffixes).
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aif", ".aiff")


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()


def walk_files(root: str | Path) -> list[Path]:
    """Every file under `root`, sorted, following symlinked sub-folders (`Path.rglob` skips them silently
    before Python 3.13); a folder reached twice (a link loop, or two links to one folder) is read once."""
    root = Path(root)
    seen: set[str] = set()
    files: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        files += [Path(folder) / n for n in names]
    return sorted(files)


@contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False, durable: bool = True) -> Iterator[Path]:
    """A temporary path to write `path` through; renamed over `path` when the block ends without error.

    `keep_suffix` keeps the target's suffix last (for writers that pick the format from it, e.g. savefig).
    `durable=False` skips the two fsyncs, for files whose loss or damage a reader detects and repairs
    (checksum records: a missing one means "rebuild")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = (
        f".{path.stem}.{os.getpid()}.part{path.suffix}" if keep_suffix else f"{path.name}.{os.getpid()}.part"
    )
    tmp = path.with_name(name)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)  # the bytes reach the disk before the name does: never an empty file after a crash
        tmp.replace(path)
        if durable:
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def fsync_file(path: str | Path) -> None:
    """Flush a written file to disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class JsonLines:
    """A JSON-lines file as read: `lines` holds (1-based line number, text, parsed JSON or None when the text
    is not JSON) of every non-blank line; `torn_bytes` is the length of a torn last line (no final newline
    and not JSON: a writer killed mid-line), which is not in `lines`, else 0; `torn_line` is its number."""

    def __init__(self, lines: list[tuple[int, str, Any]], torn_bytes: int = 0, torn_line: int = 0) -> None:
        self.lines, self.torn_bytes, self.torn_line = lines, torn_bytes, torn_line


def read_jsonl(path: str | Path) -> JsonLines:
    """The one reader of the append-only logs (result rows, the training log, Table III's run log); each
    caller decides what a line that is not a row means. A missing file has no lines."""
    path = Path(path)
    if not path.is_file():
        return JsonLines([])
    data = path.read_bytes()
    body, newline, tail = data.rpartition(b"\n")
    texts = body.decode("utf-8", errors="replace").split("\n") if newline else []
    torn_bytes = 0
    if tail.strip():
        if _parse(tail.decode("utf-8", errors="replace")) is None:
            torn_bytes = len(tail)
        else:  # a whole row whose newline was never written
            texts.append(tail.decode("utf-8", errors="replace"))
    lines = [(n, t, _parse(t)) for n, t in enumerate(texts, 1) if t.strip()]
    return JsonLines(lines, torn_bytes, len(texts) + 1 if torn_bytes else 0)


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


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


# --- checksum records of cached files ------------------------------------------------------------


def check_path(path: str | Path) -> Path:
    """Where the checksum record of `path` lives: `<name>.check.json` beside it."""
    path = Path(path)
    return path.with_name(path.name + CHECK_SUFFIX)


def write_check(path: str | Path, **meta: Any) -> dict[str, Any]:
    """Record the sha256 and size of `path` as it is now (plus `meta`: shape, dtype, ...); returns the record.
    Write it after the file, so a record always describes a complete file."""
    path = Path(path)
    record = {"sha256": sha256_file(path), "bytes": path.stat().st_size, **meta}
    with atomic_path(check_path(path), durable=False) as tmp:  # a lost record only means a rebuild
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return record


def read_check(path: str | Path) -> dict[str, Any] | None:
    """The checksum record of `path`, or None when it is absent or unreadable."""
    try:
        record = json.loads(check_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "sha256" in record else None


def check_problem(path: str | Path, record: dict[str, Any] | None) -> str | None:
    """Why `path` does not match its checksum `record` (missing, cut, changed, no record), or None."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    if record is None or "sha256" not in record:
        return "no checksum recorded when it was written"
    size = path.stat().st_size
    if size != record.get("bytes"):
        return f"{size} bytes, {record.get('bytes')} when written: cut or overwritten"
    if sha256_file(path) != record["sha256"]:
        return "its bytes changed since it was written (sha256 differs)"
    return None


def discard(path: str | Path) -> None:
    """Delete a cached file and its checksum record (a damaged entry, so the next reader rebuilds it)."""
    Path(path).unlink(missing_ok=True)
    check_path(path).unlink(missing_ok=True)


def reusable(path: str | Path, record: dict[str, Any] | None, what: str) -> bool:
    """True when the cached `path` matches `record`. A file that does not is deleted with its record and
    named in one log line, so the caller rebuilds it (and a hard link elsewhere cannot bring it back)."""
    path = Path(path)
    if not path.is_file():
        return False
    problem = check_problem(path, record)
    if problem is None:
        return True
    log.warning("cached %s %s is damaged (%s): rebuilding it", what, path, problem)
    discard(path)
    return False


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when two paths name one file (the same path, a symlink or a hard link to it)."""
    a, b = Path(a), Path(b)
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False
