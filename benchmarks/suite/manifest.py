"""manifest.json (sha256 of every produced file, package versions, licences) and the resume journal.

Each finished job appends one line to `.journal.jsonl` (its files with hashes and its metadata rows), so an
interrupted build resumes where it stopped; a job is redone when any of its files is missing or changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m2l2.errors import M2L2Error
from m2l2.io import sha256_file, write_text

MANIFEST = "manifest.json"
JOURNAL = ".journal.jsonl"


def read_manifest(root: Path) -> dict[str, Any]:
    """The suite's manifest (an empty one when absent); a malformed one is one error naming it."""
    path = root / MANIFEST
    if not path.is_file():
        return {"format": 1, "parts": {}, "files": {}, "sources": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f"line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else "not UTF-8"
        raise M2L2Error(
            f"malformed suite manifest, invalid JSON at {where} ({path}): delete it and run "
            f"`m2l2 data build --root {root}` to rebuild it (finished files are kept)"
        ) from None
    if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), dict) for k in ("parts", "files")):
        raise M2L2Error(
            f"malformed suite manifest, parts and files must be mappings ({path}): delete it and run "
            f"`m2l2 data build --root {root}` to rebuild it"
        )
    return manifest


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    manifest["files"] = dict(sorted(manifest["files"].items()))
    write_text(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def verify(root: str | Path, parts: list[str] | None = None) -> list[str]:
    """Problems found (missing, changed or unlisted files); empty when the suite matches its manifest."""
    root = Path(root)
    if not (root / MANIFEST).is_file():
        return [f"{root / MANIFEST} not found: build the suite with `m2l2 data build --root {root}`"]
    manifest = read_manifest(root)
    problems = []
    for rel, digest in manifest["files"].items():
        if parts is not None and rel.split("/", 1)[0] not in parts:
            continue
        path = root / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif sha256_file(path) != digest:
            problems.append(f"changed (sha256 mismatch): {rel}")
    for part in manifest["parts"] if parts is None else parts:
        folder = root / part
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(root).as_posix()
                if p.is_file() and rel not in manifest["files"] and not p.name.endswith(".part"):
                    problems.append(f"not in the manifest: {rel}")
    return problems


@dataclass
class Journal:
    """Finished jobs of the current build: job key → {"files": {rel: sha}, "rows": [...]}."""

    root: Path
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path) -> Journal:
        j = cls(root)
        path = root / JOURNAL
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption
                if isinstance(entry, dict) and isinstance(entry.get("files"), dict) and "job" in entry:
                    j.done[str(entry["job"])] = entry  # anything else: that job is simply built again
        return j

    def finished(self, job: str) -> dict[str, Any] | None:
        """The job's entry if all its files are still there with the recorded hashes."""
        entry = self.done.get(job)
        if entry is None:
            return None
        for rel, digest in entry["files"].items():
            p = self.root / rel
            if not p.is_file() or sha256_file(p) != digest:
                return None
        return entry

    def record(self, job: str, files: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
        entry = {"job": job, "files": {rel: sha256_file(self.root / rel) for rel in files}, "rows": rows}
        self.done[job] = entry
        with open(self.root / JOURNAL, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry
