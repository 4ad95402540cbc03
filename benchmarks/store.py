"""The result store: where an experiment's files live, per-clip rows (append-only JSONL), result files.

Layout under a configuration's `output_dir`: `<experiment>/<config>.json` (the result file) and
`<experiment>/<config>/` (its rows: one JSON line per finished unit of work, so an interrupted run resumes
at the next unit). Rows are appended with one write + fsync; result files are written atomically and kept
when only their date would change, so their provenance names the run that computed them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from m2l2.errors import M2L2Error
from m2l2.io import sha256_json, write_json, write_text

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
    """Every complete row of every `pattern` file under `folder` (shards merged; broken lines ignored)."""
    rows = []
    for path in sorted(folder.glob(pattern)):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
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
    """A result file, or an error saying to run the experiment first."""
    path = Path(path)
    if not path.is_file():
        raise M2L2Error(f"result file not found: {path} (run `m2l2 tables` first)")
    return json.loads(path.read_text(encoding="utf-8"))


def read_previous(path: Path) -> dict[str, Any] | None:
    """The result file an earlier run left (None when absent or unreadable: everything is recomputed)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except json.JSONDecodeError:
        return None


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


def write_if_changed(path: Path, result: dict[str, Any]) -> bool:
    """Write a result file unless only its creation date would change; True when written."""
    if path.is_file() and not _changed(path, result):
        return False
    write_json(path, result)
    return True


def write_result(path: Path, result: dict[str, Any], force: bool = False) -> bool:
    """Write a result file: always when `force`d (something was recomputed), else only when changed."""
    if force:
        write_json(path, result)
        return True
    return write_if_changed(path, result)
