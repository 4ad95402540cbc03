"""The folder of one training run: its configuration, log, checkpoints and STOP flag.

    RUN/config.json        what the run trains (model, train settings, the parent of an --init-from run)
    RUN/log.jsonl          one JSON row per logged step (loss, probes), appended as the run goes
    RUN/checkpoints/       step-NNNNNNNN.{json,safetensors} (m2l2.checkpoint)
    RUN/STOP               created by the user: the run stops after the current step, with a checkpoint
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from m2l2.checkpoint import list_checkpoints
from m2l2.errors import M2L2Error
from m2l2.io import read_jsonl, write_text

log = logging.getLogger(__name__)


class RunFolder:
    """Paths and file handling of one run folder; the trainer's main process is the only writer."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.log_path = self.path / "log.jsonl"
        self.config_path = self.path / "config.json"

    def has_checkpoints(self) -> bool:
        return bool(list_checkpoints(self.checkpoints))

    def refuse_reuse(self) -> None:
        """A new run must not mix its checkpoints with an earlier run's."""
        if self.has_checkpoints():
            raise M2L2Error(
                f"the run folder already holds checkpoints ({self.path}): pass --resume or pick a new "
                "--run-dir"
            )

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.config_path, json.dumps(config, indent=1))

    def append(self, row: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def stop_requested(self) -> bool:
        return (self.path / "STOP").exists()

    def truncate_log(self, step: int) -> None:
        """Drop log rows written after the checkpoint we resume from (they will be written again). A line
        that is not a JSON row (a run killed mid-write leaves a torn last line) is dropped, and said so."""
        if not self.log_path.is_file():
            return
        log_file = read_jsonl(self.log_path)
        stepped = [(text, row) for _, text, row in log_file.lines
                   if isinstance(row, dict) and isinstance(row.get("step"), int)]
        rows = [text for text, row in stepped if row["step"] <= step]
        torn = bool(log_file.torn_bytes) + len(log_file.lines) - len(stepped)
        if torn:
            log.warning("%s: dropped %d torn or malformed line(s), e.g. the half-written last line of a "
                        "killed run", self.log_path, torn)
        write_text(self.log_path, "".join(r + "\n" for r in rows))
