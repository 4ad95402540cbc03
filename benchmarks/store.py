"""The result store: where an experiment's files live, per-clip rows (append-only JSONL), result files.

Layout under a configuration's `output_dir`: `<experiment>/<config>.json` (the result file) and
`<experiment>/<config>/` (its rows: one JSON line per finished unit of work, so an interrupted run resumes
at the next unit). Rows are appended with one write + fsync; result files are written atomically and kept
when only their date would change, so their provenance names the run that computed them.

Damage is never silent: a torn or malformed row is skipped (one log line per file), a malformed result
file is an error that names it and says to delete it, and a cached file (a reconstruction) is reused only
when it matches the checksum recorded when it was written (`reuse_cached`); else it is rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from m2l2 import io
from m2l2.errors import M2L2Error
from m2l2.io import sha256_json, write_json, write_text

log = logging.getLogger(__name__)

VOLATILE_PROVENANCE = ("created", "git")  # what a rerun that recomputes nothing may change


def key(obj: Any) -> str:
    """A cache key: sha256 of the canonical JSON of everything an output depends on."""
    return sha256_json(obj)


def slug(text: str) -> str:
    """A file-name-safe form of a label or configuration name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def result_path(output_dir: str | Path, experiment: str, config_name: str) -> Path:
    """`<output_dir>/<experiment>/<config>.json`."""
    return Path(output_dir).expanduser() / experiment / f"{slug(config_name)}.json"


def rows_dir(result_file: Path) -> Path:
    """The folder of a result file's rows: the result path without `.json`."""
    return result_file.with_suffix("")


def json_number(v: Any) -> Any:
    """JSON-safe float (inf as a string)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else "-inf" if v < 0 else None
    return v


def read_number(v: Any) -> float | None:
    """The float written by `json_number` (None stays None)."""
    return None if v is None else float(v)  # float("inf") parses the strings json_number writes


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line with a single write + fsync, so a killed run leaves at most a truncated last line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(row, sort_keys=True, allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # end a half-written line left by a killed run, so this row stays whole
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_rows(folder: Path, pattern: str = "per_clip*.jsonl") -> list[dict[str, Any]]:
    """Every complete row of every `pattern` file under `folder` (shards merged). A torn last line (a killed
    run) is dropped quietly; other malformed lines are dropped with one log line per file, and their units
    of work are simply done again."""
    rows = []
    for path in sorted(folder.glob(pattern)):
        lines = io.read_jsonl(path).lines
        rows += [row for _, _, row in lines if isinstance(row, dict)]
        bad = sum(not isinstance(row, dict) for _, _, row in lines)
        if bad:
            log.warning("%s: %d malformed lines skipped (their work is done again)", path, bad)
    return rows


def compact_rows(
    folder: Path,
    read_at_start: dict[tuple[str, str], dict[str, Any]],
    current: dict[str, dict[str, dict[str, Any]]],
) -> bool:
    """Rewrite `per_clip.jsonl` with one row per (model, clip) and fold shard files into it.

    `current` holds the rows this run used (label → clip → row); rows of other models (skipped now, e.g.
    weights missing) are kept as the run read them at its start (`read_at_start`, (label, clip) → row). Stale
    rows of changed inputs go. Run only once every shard has finished. True when anything was rewritten."""
    kept = {k: r for k, r in read_at_start.items() if k[0] not in current}
    kept.update({(label, clip): r for label, by_clip in current.items() for clip, r in by_clip.items()})
    text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in kept.values())
    target = folder / "per_clip.jsonl"
    shards = sorted(folder.glob("per_clip.shard-*.jsonl"))
    if not shards and target.is_file() and target.read_text(encoding="utf-8") == text:
        return False
    write_text(target, text)
    for path in shards:
        path.unlink()
    return True


def result_head(table: str, cfg: Any, clips: int | None = None, with_root: bool = True) -> dict[str, Any]:
    """The first keys of a result file: which experiment, which configuration (a TablesConfig) and, given the
    number of clips, which evaluation set."""
    head = {"table": table, "config_name": cfg.name, "config": cfg.as_dict(), "config_file": cfg.source}
    if clips is not None:
        ds = cfg.dataset
        head["dataset"] = {"name": ds.name, "split": ds.split, "clips": clips}
        if with_root:
            head["dataset"]["root"] = str(Path(ds.root).expanduser()) if ds.root else None
    return head


def read_result(path: str | Path) -> dict[str, Any]:
    """A result file, or an error saying to run the experiment first (absent) or to delete it (malformed)."""
    path = Path(path)
    if not path.is_file():
        raise M2L2Error(f"result file not found ({path}): run `m2l2 tables` first")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise M2L2Error(
            f"malformed result file, {_why(e)} ({path}): delete it and run `m2l2 tables` to rebuild it"
        ) from None
    if not isinstance(result, dict):
        raise M2L2Error(
            f"malformed result file, not a JSON object ({path}): delete it and run `m2l2 tables` to rebuild it"
        )
    return result


def read_previous(path: Path) -> dict[str, Any] | None:
    """The result file an earlier run left (None when absent or malformed: everything is recomputed, and a
    malformed one is named in a log line)."""
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("%s is malformed (%s): recomputing it", path, _why(e))
        return None
    return result if isinstance(result, dict) else None


def _why(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON at line {e.lineno} column {e.colno}"
    return "not UTF-8 text"


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A small JSON object file (a sidecar), or None when absent or malformed (the caller rebuilds it)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


# --- cached files shared between experiments (reconstructions) -----------------------------------


def link_file(src: Path, dst: Path) -> None:
    """Hard link `src` at `dst` (a copy across file systems), replacing `dst`."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def reuse_cached(
    out: Path, side: Path, shared: Path, meta: dict[str, Any], legacy_problem: Callable[[Path], str | None]
) -> bool:
    """True when `out` holds the cached file made for `meta["key"]`: its own copy, or `shared` (the copy filed
    by key) linked there. Each copy is checked against the checksum recorded when it was written; a damaged
    copy is deleted and logged, so the caller rebuilds it, and a hard link never brings back a file that
    failed. Files written before checksums were recorded are checked with `legacy_problem` (None: usable)
    and adopted."""
    own = read_json_object(side) if out.is_file() else None
    if own is not None and own.get("key") == meta["key"]:
        linked = shared.is_file() and io.same_file(out, shared)
        if "sha256" not in own:
            own = _adopt(out, (side, own), legacy_problem)
        problem = "unreadable" if own is None else io.check_problem(out, own)
        if problem is None:
            if not shared.is_file():
                link_file(out, shared)
                io.write_check(shared)
            return True
        if own is not None:
            also = f" (and its hard link {shared})" if linked else ""
            log.warning("cached reconstruction %s is damaged (%s): rebuilding it%s", out, problem, also)
        io.discard(out)
        if linked:
            io.discard(shared)  # the same damaged bytes: never linked back
    side.unlink(missing_ok=True)
    if not shared.is_file():
        return False
    record = io.read_check(shared) or _adopt(shared, None, legacy_problem)
    if record is None or not io.reusable(shared, record, "reconstruction"):
        return False
    link_file(shared, out)
    write_json(side, {**meta, "linked": str(shared), "sha256": record["sha256"], "bytes": record["bytes"]})
    return True


def _adopt(
    path: Path, sidecar: tuple[Path, dict[str, Any]] | None, problem: Callable[[Path], str | None]
) -> dict[str, Any] | None:
    """Record the checksum of a file written before checksums were (into its sidecar, or as a check record)
    once `problem` finds it usable; a file that is not is deleted and logged. Returns the record or None."""
    why = problem(path)
    if why is not None:
        log.warning("cached reconstruction %s is damaged (%s): rebuilding it", path, why)
        io.discard(path)
        return None
    record = io.write_check(path)
    if sidecar is None:
        return record
    io.check_path(path).unlink(missing_ok=True)  # a run copy keeps its record in its sidecar
    side, meta = sidecar
    meta = {**meta, "sha256": record["sha256"], "bytes": record["bytes"]}
    write_json(side, meta)
    return meta


def record_cached(out: Path, side: Path, shared: Path, meta: dict[str, Any]) -> None:
    """After writing `out`: file it under `shared` (a hard link) with its checksum record, then write the
    sidecar (key and checksum), which marks the run copy complete."""
    link_file(out, shared)
    record = io.write_check(shared)
    write_json(side, {**meta, "sha256": record["sha256"], "bytes": record["bytes"]})


def _changed(path: Path, result: dict[str, Any]) -> bool:
    """True when anything but the creation date and git state differs from the file on disk."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return True

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {
            **d,
            "provenance": {k: v for k, v in d.get("provenance", {}).items() if k not in VOLATILE_PROVENANCE},
        }

    return strip(old) != strip(json.loads(json.dumps(result, allow_nan=False)))


def portable(obj: Any, home: str | None = None) -> Any:
    """`obj` with the user's home folder written as "~" in every string (a skipped model's reason names
    where its weights belong): a result file then reads the same on every machine, and does not churn."""
    home = (home or str(Path.home())).rstrip("/")
    if not home:
        return obj
    if isinstance(obj, str):
        return obj.replace(home + "/", "~/")
    if isinstance(obj, dict):
        return {k: portable(v, home) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable(v, home) for v in obj]
    return obj


def write_if_changed(path: Path, result: dict[str, Any]) -> bool:
    """Write a result file unless only its creation date would change; True when written. Keys keep the
    order of the file it replaces (`benchmarks.key_order`): a rewrite changes only the lines that changed.
    Paths under the home folder are written as "~/…" (`portable`)."""
    result = portable(result)
    if path.is_file() and not _changed(path, result):
        return False
    from benchmarks.key_order import follow_order

    write_json(path, follow_order(json.loads(json.dumps(result, allow_nan=False)), read_previous(path)))
    return True


def write_result(path: Path, result: dict[str, Any], force: bool = False) -> bool:
    """Write a result file when it changed. `force` (something was recomputed) no longer rewrites a result
    whose content came out the same: its bytes, and the provenance of the run that first computed it, stay."""
    return write_if_changed(path, result)


# --- one run per cache ------------------------------------------------------------------------------

LOCK_NAME = ".m2l2-tables.lock"


@contextlib.contextmanager
def cache_lock(cache_dir: str | Path, enabled: bool = True) -> Iterator[None]:
    """Hold the cache's lock file while a run uses it; a second run refuses at once and names the holder.

    Two runs writing the same reconstructions and rows race (one may read a file the other is replacing).
    The lock is an advisory `flock`, so the system drops it when the holder dies: never a stale lock."""
    if not enabled:
        yield
        return
    import fcntl

    folder = Path(cache_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise M2L2Error(
                f"another `m2l2 tables` run is using this cache, {holder} ({path}): wait for it to finish, "
                "or give this configuration another cache_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {platform.node()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
