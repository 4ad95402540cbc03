"""Probing tasks as data: which dataset, which label, which kind of task, which split scheme.

A task's split is either the dataset's own ("given": every item carries train/valid/test, e.g. MTAT with
Won et al.'s split, Beatport's seeded 80/10/10, the suite's key part) or folds ("folds": the loader is asked
for fold i — i validation, i+1 test, the rest train — as for TinySOL and the suite's notes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from m2l2.errors import M2L2Error

TASK_TYPES = ("multilabel", "multiclass", "key")
# The metrics each task type reports, in table order.
TYPE_METRICS: dict[str, tuple[str, ...]] = {
    "multilabel": ("auc_roc", "auc_pr"),
    "key": ("key_weighted_micro", "key_weighted_macro", "accuracy"),
    "multiclass": ("f1_micro", "f1_macro"),
}
# The probe keeps the epoch with the best value of this validation metric (mir_ref's checkpoint monitor).
SELECTION_METRIC = {"multilabel": "auc_roc", "key": "accuracy", "multiclass": "accuracy"}


@dataclass
class Task:
    name: str  # short id, e.g. "notes-pitch"
    dataset: str  # a benchmarks.datasets name
    label: str  # the item label field: "tags", "key", "pitch_class", "instrument", ...
    type: str  # "multilabel", "multiclass" or "key" (24-class key with the weighted score)
    title: str = ""  # column-group title in the table
    root: str | None = None  # dataset folder (None: the loader's default, e.g. the default suite)
    split: str = "given"  # "given" or "folds"
    folds: list[int] = field(default_factory=lambda: [0])
    options: dict[str, Any] = field(default_factory=dict)  # extra loader options (split_dir=..., ...)
    paper_columns: dict[str, str] = field(default_factory=dict)  # metric → column of the paper's Table III
    when_exists: str | None = None  # skip (with the reason) when this path or dataset is absent

    def __post_init__(self) -> None:
        self.title = self.title or self.name
        if self.type not in TASK_TYPES:
            raise M2L2Error(
                f"unknown type {self.type!r} of task {self.name!r} (table3.tasks[].type): use one of "
                f"{', '.join(TASK_TYPES)}"
            )
        if self.split not in ("given", "folds"):
            raise M2L2Error(
                f"unknown split {self.split!r} of task {self.name!r} (table3.tasks[].split): use given or "
                "folds"
            )
        unknown = set(self.paper_columns) - set(TYPE_METRICS[self.type])
        if unknown:
            raise M2L2Error(
                f"task {self.name!r} has paper columns for metrics it does not report, {sorted(unknown)} "
                f"(table3.tasks[].paper_columns): use only {', '.join(TYPE_METRICS[self.type])}"
            )

    @property
    def metrics(self) -> tuple[str, ...]:
        return TYPE_METRICS[self.type]

    @property
    def partitions(self) -> list[int | None]:
        """Fold numbers to run (None: the dataset's given split, run once per seed)."""
        return list(self.folds) if self.split == "folds" else [None]


@dataclass
class TaskData:
    """Items of a task with encoded targets: y is [n] class indices, or [n, classes] multi-hot."""

    task: Task
    items: list[Any]
    classes: list[str]
    y: np.ndarray
    dropped: int  # items without a usable label

    def splits(self, fold: int | None) -> dict[str, np.ndarray]:
        """Indices into `items` of train / valid / test for a fold (or the given split)."""
        if fold is None:
            names = [it.split for it in self.items]
        else:
            from benchmarks.datasets import load

            by_id = {
                it.id: it.split
                for it in load(self.task.dataset, _root(self.task), None, fold=fold, **self.task.options)
            }
            names = [by_id.get(it.id) for it in self.items]
        out = {
            s: np.array([i for i, n in enumerate(names) if n == s], dtype=np.int64)
            for s in ("train", "valid", "test")
        }
        empty = [s for s, idx in out.items() if not len(idx)]
        if empty:
            place = f"dataset {self.task.dataset}" + (f", fold {fold}" if fold is not None else "")
            raise M2L2Error(
                f"task {self.task.name!r}: split(s) {empty} have no items ({place}): check the dataset's "
                "files and the task's split, folds and options"
            )
        return out


def _root(task: Task) -> Path | None:
    return Path(task.root).expanduser() if task.root else None


def _vocabulary(task: Task, items: list[Any]) -> list[str]:
    if task.type == "key":
        from benchmarks.datasets import KEYS

        return list(KEYS)
    if task.type == "multilabel":
        if task.dataset == "mtat" and task.root:
            from benchmarks.datasets.mtat import tag_vocabulary

            return tag_vocabulary(_root(task), task.options.get("split_dir"))
        return sorted({t for it in items for t in (it.labels.get(task.label) or [])})
    return sorted({str(it.labels[task.label]) for it in items if it.labels.get(task.label) not in (None, "")})


def load_task(task: Task) -> TaskData:
    """Load every item of the task's dataset (all splits) and encode its labels."""
    from benchmarks.datasets import load

    extra = {"fold": task.folds[0]} if task.split == "folds" else {}
    items = sorted(load(task.dataset, _root(task), None, **extra, **task.options), key=lambda it: it.id)
    classes = _vocabulary(task, items)
    index = {c: i for i, c in enumerate(classes)}
    kept, ys = [], []
    for it in items:
        value = it.labels.get(task.label)
        if task.type == "multilabel":
            row = np.zeros(len(classes), dtype=np.float32)
            for t in value or []:
                if t in index:
                    row[index[t]] = 1.0
            kept.append(it)
            ys.append(row)
        elif value not in (None, "") and str(value) in index:
            kept.append(it)
            ys.append(index[str(value)])
    if not kept:
        raise M2L2Error(
            f"task {task.name!r}: no item of {task.dataset} has a usable {task.label!r} label "
            "(table3.tasks[].label): check label: against the labels the dataset's items carry"
        )
    y = np.stack(ys) if task.type == "multilabel" else np.asarray(ys, dtype=np.int64)
    return TaskData(task, kept, classes, y, len(items) - len(kept))


def task_available(task: Task) -> str | None:
    """None when the task's data can be loaded, else why not (for the skipped-tasks note)."""
    if task.when_exists and not Path(task.when_exists).expanduser().exists():
        return f"{task.when_exists} does not exist"
    if task.dataset.startswith("suite-"):
        from benchmarks.datasets.suite import default_root

        root = _root(task) or Path(default_root())
        part = task.dataset[len("suite-") :]
        if not (root / part / "metadata.csv").is_file():
            return f"suite part '{part}' not built at {root} (`m2l2 data build --parts {part}`)"
    elif task.root is None or not _root(task).exists():  # type: ignore[union-attr]
        return f"dataset folder {task.root} not found (set root: in the configuration)"
    return None
