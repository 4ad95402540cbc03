"""Table III's run log, `<output>/table3/<config>/runs.jsonl`: one JSON row per finished probe run (model,
task, fold, seed), appended as each run finishes (`store.append_row`) and read back at the start of a run,
so that a rerun trains only the runs the log lacks.

A run killed mid-write leaves a torn last line. It is the resumable state: the line is cut off the file, with
a one-line warning, and its probe run is trained again (as `m2l2.training` drops a torn line of its
log.jsonl). Cutting it off, rather than skipping it, keeps it from becoming a middle line once new rows are
appended. Any other line that is not a complete row means the file was damaged or edited by hand; the
numbers of Table III are aggregated from these rows, so reading stops with an error naming the line.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from m2l2.errors import M2L2Error
from m2l2.io import read_jsonl

log = logging.getLogger(__name__)

ROW_FIELDS = ("key", "model", "task", "fold", "seed", "scores", "n_test", "best_epoch", "epochs_run")
RERUN = "delete the file to rerun Table III"


def load_runs(path: Path) -> dict[str, dict[str, Any]]:
    """Key → row of every probe run in the log at `path` (later rows win; none without a file). A torn last
    line is cut off the file; any other malformed line or incomplete row raises M2L2Error."""
    log_file = read_jsonl(path)
    runs: dict[str, dict[str, Any]] = {}
    for number, text, _ in log_file.lines:
        row = _row(text, f"{path}:{number}")
        runs[row["key"]] = row
    if log_file.torn_bytes:  # cut off only once the rest has been read without error
        log.warning(
            "%s:%d: dropped a torn last line (a run killed mid-write); that probe run is trained again",
            path,
            log_file.torn_line,
        )
        os.truncate(path, path.stat().st_size - log_file.torn_bytes)
    return runs


def _row(line: str, where: str) -> dict[str, Any]:
    """One line as a run row, or M2L2Error naming what is wrong with it and where."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise M2L2Error(f"malformed line in Table III's run log ({where}): {RERUN}") from None
    if not isinstance(row, dict):
        raise M2L2Error(f"a line of Table III's run log is not a JSON object ({where}): {RERUN}")
    missing = [f for f in ROW_FIELDS if f not in row]
    if missing:
        raise M2L2Error(f"a Table III run row lacks {', '.join(missing)} ({where}): {RERUN}")
    if not isinstance(row["key"], str) or not isinstance(row["scores"], dict):
        raise M2L2Error(
            f"a Table III run row has a key that is not text or scores that are not an object "
            f"({where}): {RERUN}"
        )
    return row
