"""Table III end to end: models x tasks x (folds) x seeds, resumable, with provenance.

* Features: one cached `.npy` per item and model (`benchmarks.experiments.table3.features`), so only new or changed
  clips are embedded again.
* Probe runs: one JSON line per (model, task, fold, seed) appended to `<output>/table3/<config>/runs.jsonl`,
  reused when its key (probe code version, probe settings, task definition, the features' key, fold, seed)
  is unchanged, so an interrupted run continues where it stopped.
* Result: `<output>/table3/<config>.json` with mean ± std over runs per metric, and provenance; rendered into
  `<output>/tables/table3_<config>.{md,tex,csv}` beside the paper's published Table III.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import store
from benchmarks.config import TablesConfig
from benchmarks.experiments.base import RunOptions, finish
from benchmarks.experiments.table3.config import Table3Config
from benchmarks.experiments.table3.features import (
    FeatureModel,
    FeatureModelConfig,
    build_feature_model,
    content_hash,
    extract_features,
)
from benchmarks.experiments.table3.mlp import PROBE_VERSION, train_probe
from benchmarks.experiments.table3.run_log import load_runs
from benchmarks.experiments.table3.tasks import TaskData, load_task, task_available
from benchmarks.provenance import run_provenance
from m2l2.errors import M2L2Error

log = logging.getLogger(__name__)

METRICS_VERSION = "probe-metrics-v1"  # bump when a metric's definition changes


@dataclass
class Table3Summary:
    features_computed: int = 0
    features_reused: int = 0
    runs_computed: int = 0
    runs_reused: int = 0
    skipped_models: dict[str, str] = field(default_factory=dict)
    skipped_tasks: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # "model / task: features|probes" → seconds
    result_file: str | None = None
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"table3 summary ({self.seconds:.1f} s):",
            f"  features: {self.features_computed} clips embedded, {self.features_reused} reused from cache",
            f"  probe runs: {self.runs_computed} trained, {self.runs_reused} reused",
        ]
        lines += [f"  {n}" for n in self.notes]
        lines += [f"  time {k}: {v:.1f} s" for k, v in self.timings.items() if v >= 0.05]
        lines += [f"  skipped model {k}: {v}" for k, v in self.skipped_models.items()]
        lines += [f"  skipped task {k}: {v}" for k, v in self.skipped_tasks.items()]
        if self.result_file:
            lines.append(f"  results: {self.result_file}")
        lines += [f"  table: {t}" for t in self.tables]
        return "\n".join(lines)

    @property
    def computed(self) -> int:
        """Units of work done in this run (0: everything was reused)."""
        return self.features_computed + self.runs_computed


def score_run(data: TaskData, probs: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Test metrics of one probe run (every test item scored)."""
    from benchmarks.experiments.table3 import metrics as M

    t = data.task
    if t.type == "multilabel":
        return M.tagging_scores(data.y[test], probs)
    pred = probs.argmax(1)
    if t.type == "key":
        names = data.classes
        return M.weighted_key_scores([names[i] for i in data.y[test]], [names[i] for i in pred])
    return M.classification_scores(data.y[test], pred)


def _probe_job(x_tr, y_tr, x_va, y_va, x_te, n_classes, multilabel, seed, probe_cfg):
    """One probe run in a worker process: (test-set scores, best epoch, epochs run)."""
    probe = train_probe(x_tr, y_tr, x_va, y_va, n_classes, multilabel, seed=seed, cfg=probe_cfg)
    return probe.predict_scores(x_te), probe.best_epoch, probe.epochs_run


class ProbePool:
    """Probe runs are single-threaded and independent: `workers` processes train them side by side (each
    seeded and deterministic, so the numbers do not depend on the worker count). Started on first use."""

    def __init__(self, workers: int | None):
        from m2l2.threads import pool_workers

        self.workers = pool_workers(workers)  # default: the thread count of m2l2.threads
        self._pool = None

    def map(self, fn, jobs: list[tuple]):
        if self.workers == 1 or len(jobs) < 2:
            return (fn(*job) for job in jobs)
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from m2l2.threads import worker_init

            ctx = multiprocessing.get_context("spawn")  # no fork after torch has started its threads
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=worker_init)
        futures = [self._pool.submit(fn, *job) for job in jobs]
        return (f.result() for f in futures)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _train_probes(x, data: TaskData, multilabel: bool, jobs: list[tuple], cfg: Table3Config, pool: ProbePool):
    """Results of the pending (key, fold, seed, split) runs, in order."""
    args = [
        (x[sp["train"]], data.y[sp["train"]], x[sp["valid"]], data.y[sp["valid"]], x[sp["test"]],
         len(data.classes), multilabel, seed, cfg.probe)
        for _, _, seed, sp in jobs
    ]
    return pool.map(_probe_job, args)


def _aggregate(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metrics:
        vals = np.array([r["scores"][m] for r in rows if r["scores"].get(m) is not None], dtype=np.float64)
        out[m] = {
            "mean": float(vals.mean()) if vals.size else None,
            "std": float(vals.std(ddof=1)) if vals.size > 1 else (0.0 if vals.size else None),
            "n": int(vals.size),
            "values": [round(float(v), 6) for v in vals],
        }
    return out


def run(
    tables: TablesConfig | None, cfg: Table3Config | None, opts: RunOptions | None = None
) -> Table3Summary:
    """Run every (model, task, fold, seed) of `cfg` not already in the run log and write the result file.

    `cfg` is the `table3:` section of the tables configuration `tables` (which it already holds everything
    of); without one nothing runs and the summary says so."""
    opts = opts or RunOptions()
    t_start = time.time()
    summary = Table3Summary()
    if cfg is None:
        summary.notes.append("no table3: section in this configuration (Table III not configured)")
        return summary
    runs_file = store.rows_dir(cfg.result_file) / "runs.jsonl"
    done = load_runs(runs_file)
    previous = _previous_features(cfg.result_file)
    _ensure_suite(cfg)
    models, model_specs = _build_models(cfg, summary)
    tasks_out: list[dict[str, Any]] = []
    pool = ProbePool(cfg.probe_workers)
    results: dict[str, dict[str, Any]] = {label: {} for label in models}
    feature_info: dict[str, dict[str, Any]] = {label: {} for label in models}
    for task in cfg.tasks:
        data = _load_task_or_skip(task, summary)
        if data is None:
            continue
        partitions = {fold: data.splits(fold) for fold in task.partitions}
        tasks_out.append(_task_entry(task, data, partitions))
        log.info("[task %s] %d items of %s, %d classes, %d split(s) x %d seeds", task.name, len(data.items),
                 task.dataset, len(data.classes), len(partitions), len(cfg.seeds))
        hashes: dict[str, str] = {}
        for label, model in models.items():
            x, feature_key = None, _feature_key(model, data.items, hashes)
            shape = previous.get(label, {}).get(task.name)
            if shape is None or cfg.export_dir or not _all_done(cfg, task, data, partitions, feature_key, done):
                x = _features(cfg, label, model, task, data, hashes, summary, opts.progress)
                shape = {"dim": int(x.shape[1]), "items": int(x.shape[0])}
            feature_info[label][task.name] = shape
            t0 = time.perf_counter()
            rows = _probe_runs(cfg, label, task, data, partitions, x, feature_key, done, runs_file, pool, summary)
            summary.timings[f"{label} / {task.name}: probes"] = time.perf_counter() - t0
            results[label][task.name] = _aggregate(rows, task.metrics)
    pool.close()
    models_out = [
        {"label": label, "kind": model_specs[label].kind, "identity": m.identity, "model_key": m.key,
         "provenance": m.provenance, "features": feature_info[label], "results": results[label]}
        for label, m in models.items()
    ]
    result = {
        "table": "table3",
        "config_name": cfg.name,
        "config": cfg.as_dict(),
        "config_file": cfg.source,
        "seeds": cfg.seeds,
        "tasks": tasks_out,
        "models": models_out,
        "skipped_models": summary.skipped_models,
        "skipped_tasks": summary.skipped_tasks,
        "runs_file": str(runs_file),
        "provenance": run_provenance({"probe": PROBE_VERSION, "metrics": METRICS_VERSION}),
    }
    return finish(summary, cfg.result_file, result, t_start, force=bool(summary.runs_computed))


def _previous_features(result_file: Path) -> dict[str, dict[str, Any]]:
    """label → task → feature shape, from the result file being replaced ({} when there is none)."""
    old = store.read_previous(result_file) or {}
    try:
        return {m["label"]: dict(m["features"]) for m in old.get("models", [])}
    except (KeyError, TypeError, ValueError):
        return {}


def _feature_key(model: FeatureModel, items, hashes: dict[str, str]) -> str:
    """The key of a model's features of `items`: known from the items' content hashes alone."""
    for it in items:
        if it.id not in hashes:
            hashes[it.id] = content_hash(it)
    return store.key([model.key, [hashes[it.id] for it in items]])


def _task_key(task, data: TaskData) -> str:
    return store.key([dataclasses.asdict(task), data.classes, hashlib.sha256(data.y.tobytes()).hexdigest()])


def _run_key(cfg: Table3Config, task_key: str, feature_key: str, fold, seed) -> str:
    return store.key([PROBE_VERSION, METRICS_VERSION, dataclasses.asdict(cfg.probe), task_key, feature_key, fold,
                      seed])


def _all_done(cfg: Table3Config, task, data: TaskData, partitions, feature_key: str, done) -> bool:
    """Every (fold, seed) probe of these features is in the run log: the features need not be extracted
    (a fresh clone with the committed run log embeds nothing)."""
    task_key = _task_key(task, data)
    return all(_run_key(cfg, task_key, feature_key, fold, seed) in done for fold in partitions for seed in cfg.seeds)


def _ensure_suite(cfg: Table3Config) -> None:
    """Build the offline suite's parts that the suite tasks read, where the configuration asks for it."""
    if cfg.build_suite and any(t.dataset.startswith("suite-") for t in cfg.tasks):
        from benchmarks.suite import ensure_built

        for root in {t.root for t in cfg.tasks if t.dataset.startswith("suite-")}:
            ensure_built(Path(root).expanduser() if root else None, parts=list(cfg.build_suite))


def _build_models(cfg: Table3Config, summary: Table3Summary):
    """(label → feature model, label → its spec) of the models that can run here; the others are skipped."""
    models: dict[str, FeatureModel] = {}
    specs: dict[str, FeatureModelConfig] = {}
    for spec in cfg.models:
        model, why = build_feature_model(spec)
        if model is None:
            summary.skipped_models[spec.label] = why or "unavailable"
            log.info("[%s] skipped: %s", spec.label, why)
        else:
            models[spec.label], specs[spec.label] = model, spec
    return models, specs


def _load_task_or_skip(task, summary: Table3Summary):
    """The task's data, or None (and the reason in the summary) when it cannot be loaded here."""
    why = task_available(task)
    data = None
    if why is None:
        try:
            data = load_task(task)
        except M2L2Error as e:
            why = str(e).splitlines()[0]
    if why is not None:
        summary.skipped_tasks[task.name] = why
        log.info("[task %s] skipped: %s", task.name, why)
        return None
    return data


def _task_entry(task, data, partitions) -> dict[str, Any]:
    return {
        "name": task.name,
        "title": task.title,
        "dataset": task.dataset,
        "label": task.label,
        "type": task.type,
        "metrics": list(task.metrics),
        "paper_columns": task.paper_columns,
        "items": len(data.items),
        "dropped_items": data.dropped,
        "classes": len(data.classes),
        "split": task.split,
        "folds": task.folds if task.split == "folds" else None,
        "split_sizes": {str(f): {k: len(v) for k, v in s.items()} for f, s in partitions.items()},
    }


def _features(cfg, label, model, task, data, hashes, summary, progress):
    """The task's feature matrix for one model (cached per clip; exported for mir_ref when asked)."""
    t0 = time.perf_counter()
    cache = Path(cfg.cache_dir).expanduser() / "probing" / "features"
    x, stats = extract_features(model, data.items, cache, progress=progress, hashes=hashes)
    summary.timings[f"{label} / {task.name}: features"] = time.perf_counter() - t0
    summary.features_computed += stats["computed"]
    summary.features_reused += stats["reused"]
    if cfg.export_dir:
        from benchmarks.experiments.table3.export import export_mir_ref

        export_mir_ref(Path(cfg.export_dir).expanduser(), task.dataset, label, data.items, x, identity=model.identity)
    return x


def _probe_runs(cfg, label, task, data, partitions, x, feature_key, done, runs_file, pool, summary) -> list[dict]:
    """Every (fold, seed) probe of one model on one task: reused from the run log, or trained (each row is
    appended to the log as it finishes, so an interrupted run resumes)."""
    task_key = _task_key(task, data)
    jobs, rows_by_key = [], {}
    for fold, split in partitions.items():
        for seed in cfg.seeds:
            key = _run_key(cfg, task_key, feature_key, fold, seed)
            rows_by_key[key] = done.get(key)  # pending runs keep their place, filled below
            if key in done:
                summary.runs_reused += 1
            else:
                jobs.append((key, fold, seed, split))
    trained = _train_probes(x, data, task.type == "multilabel", jobs, cfg, pool)
    for (key, fold, seed, split), (probs, best_epoch, epochs_run) in zip(jobs, trained):
        te = split["test"]
        if len(probs) != len(te):
            raise M2L2Error(
                f"{len(te)} test items but {len(probs)} predictions (model {label}, task {task.name}, fold "
                f"{fold}, seed {seed}): a bug in the probe; report it with this line"
            )
        try:
            scores = score_run(data, probs, te)
        except ValueError as e:  # e.g. no tag with both classes among very few test items
            scores = {m: None for m in task.metrics} | {"error": str(e)}
        row = {"key": key, "model": label, "task": task.name, "fold": fold, "seed": seed, "scores": scores,
               "n_test": int(len(te)), "best_epoch": best_epoch, "epochs_run": epochs_run}
        store.append_row(runs_file, row)
        done[key] = rows_by_key[key] = row
        summary.runs_computed += 1
    return list(rows_by_key.values())
