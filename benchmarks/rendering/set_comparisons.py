"""Set-metric comparisons (FAD, KAD) of two rows of a result file, from the embedding cache `m2l2 tables`
left behind, remembered next to the result so that a re-render (or another machine) reuses them.

A set comparison needs every clip's embedding frames for the reference and both systems. Result files do
not hold them; the tables' embedding cache (`<cache_dir>/embeddings`, keyed by embedder identity and file
content) does, so the reconstructions are found where the experiments wrote them, hashed, and looked up.
Anything missing (cache folder, a reconstruction, one embedding) or stale (embeddings that do not give
the FADs of the result file) gives a "not computed" comparison with the reason; nothing is embedded here.
Computed comparisons are appended to `<result>/comparisons.jsonl`, keyed by both rows' aggregate keys,
the metric, its embedder and the bootstrap settings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import store
from benchmarks.metrics.paired import Comparison, not_computed
from benchmarks.metrics.paired_sets import set_difference
from m2l2.errors import M2L2Error

log = logging.getLogger(__name__)
NEEDS_CACHE = "needs the embedding cache"
MEMO_FILE = "comparisons.jsonl"
MEMO_VERSION = "set-comparison-v1"  # bump when the set comparison's computation changes
MATCH_RTOL = 1e-6  # cached embeddings must give the result file's values to this relative precision


class SetComparer:
    """Set comparisons between rows (models or points) of one result file."""

    def __init__(self, result: dict[str, Any], result_file: str | Path | None, compute: bool = True):
        self.result = result
        self.result_file = result_file  # named by errors about the result
        self.compute_missing = compute  # False: only remembered comparisons (reading results, not rendering)
        self.memo_path = store.rows_dir(Path(result_file)) / MEMO_FILE if result_file is not None else None
        rows = store.read_rows(self.memo_path.parent, MEMO_FILE) if self.memo_path is not None else []
        self.memo = {r["key"]: r for r in rows if "key" in r and "comparison" in r}
        self._clips: list[Any] | None = None
        self._problem: str | None = None
        self._cfg: Any = None

    def eval_settings(self) -> tuple[int, int, float]:
        """(resamples, seed, CI level) of set metrics: the configuration's FAD bootstrap settings."""
        ev = (self.result.get("config") or {}).get("eval") or {}
        return int(ev.get("fad_n_boot", 200)), int(ev.get("seed", 0)), float(ev.get("ci_level", 0.95))

    def compare(
        self,
        metric: str,
        a: dict[str, Any],
        b: dict[str, Any],
        folders: tuple[Path | None, Path | None],
        labels: tuple[str, str],
    ) -> Comparison:
        """metric(a) − metric(b) for two rows (dicts with `metrics` and `aggregate_key`) whose
        reconstructions are in `folders`."""
        sa, sb = (row.get("metrics", {}).get(metric) or {} for row in (a, b))
        for s in (sa, sb):
            if s.get("status") != "ok" or s.get("value") is None:
                return not_computed(metric, "set", s.get("reason") or "not computed", *labels)
        n_boot, seed, level = self.eval_settings()
        identity = (self.result.get("embedders") or {}).get(metric)
        key = store.key(
            [
                MEMO_VERSION,
                metric,
                identity,
                a.get("aggregate_key"),
                b.get("aggregate_key"),
                n_boot,
                seed,
                level,
            ]
        )
        if key in self.memo:
            c = Comparison.from_dict(self.memo[key]["comparison"])
            c.a, c.b = labels
            return c
        if not self.compute_missing:
            return not_computed(
                metric,
                "set",
                f"{NEEDS_CACHE} — not computed yet: render the tables (`m2l2 tables --render-only`)",
                *labels,
            )
        if identity is None or not a.get("aggregate_key") or not b.get("aggregate_key") or None in folders:
            return not_computed(
                metric, "set", f"{NEEDS_CACHE} — this result file does not say where it is", *labels
            )
        c = self._compute(metric, identity, folders, labels, (float(sa["value"]), float(sb["value"])))
        if c.ok and self.memo_path is not None:
            store.append_row(self.memo_path, {"key": key, "comparison": c.to_dict()})
            self.memo[key] = {"key": key, "comparison": c.to_dict()}
        return c

    def _compute(
        self,
        metric: str,
        identity: str,
        folders: tuple[Path | None, Path | None],
        labels: tuple[str, str],
        stored: tuple[float, float],
    ) -> Comparison:
        """The set difference from the cached embeddings, refused when they do not give the stored values."""
        embeddings = self._embeddings(identity, folders)
        if isinstance(embeddings, str):
            return not_computed(metric, "set", embeddings, *labels)
        n_boot, seed, level = self.eval_settings()
        c = set_difference(metric, *embeddings, labels, n_boot, seed, level)
        c.value_a, c.value_b = stored
        if c.ok and abs(c.difference - (stored[0] - stored[1])) > MATCH_RTOL * max(*map(abs, stored), 1e-9):
            return not_computed(
                metric,
                "set",
                f"{NEEDS_CACHE} — the cached embeddings do not give this result's values "
                "(reconstructions changed since): rerun `m2l2 tables`",
                *labels,
            )
        if c.ok:
            log.info(
                "set difference %s: %s − %s, %d joint resamples in %.1f s",
                metric, *labels, c.resamples, c.seconds or 0.0,
            )  # fmt: skip
        return c

    # ------------------------------------------------------------------------------------------- lookup

    def _config(self) -> Any:
        from benchmarks.config import config_from_dict

        if self._cfg is None:
            data = dict(self.result.get("config") or {})
            if not data:
                where = self.result_file or "result file"
                raise M2L2Error(
                    f"the result file holds no configuration ({where}): rerun `m2l2 tables` to write it anew"
                )
            data["dataset"] = {**(data.get("dataset") or {}), "build_suite": None}  # never build here
            self._cfg = config_from_dict(data)
        return self._cfg

    def recon_folder(self, label: str) -> Path | None:
        """Where Table II (and Table I) cached a model's reconstructions; None without a configuration."""
        from benchmarks.experiments.scoring import recon_folder

        try:
            return recon_folder(self._config(), label)
        except M2L2Error:
            return None

    def fig3_folder(self, model: str, mode: str, sigma: float) -> Path | None:
        """Where Fig. 3 cached a point's reconstructions; None without a configuration."""
        from benchmarks.experiments.fig3 import point_folder

        try:
            return point_folder(self._config(), model, mode, sigma)
        except M2L2Error:
            return None

    def clips(self) -> list[Any] | str:
        """The result's evaluation clips (as the experiments listed them), or why they cannot be listed."""
        if self._clips is not None or self._problem is not None:
            return self._clips if self._clips is not None else self._problem  # type: ignore[return-value]
        from benchmarks.evalset import load_clips

        try:
            cfg = self._config()
            emb = Path(cfg.cache_dir).expanduser() / "embeddings"
            if not emb.is_dir():
                shown = Path(cfg.cache_dir) / "embeddings"  # as configured: no home folder in the tables
                self._problem = f"{NEEDS_CACHE} — {shown} is absent: run `m2l2 tables` on this machine"
                return self._problem
            clips = load_clips(cfg, Path(cfg.cache_dir).expanduser(), progress=False)
            self._clips = clips[: int((self.result.get("dataset") or {}).get("clips", len(clips)))]
        except M2L2Error as e:
            self._problem = f"{NEEDS_CACHE} — the evaluation clips cannot be listed: {str(e).splitlines()[0]}"
            return self._problem
        return self._clips

    def _embeddings(
        self, identity: str, folders: tuple[Path | None, Path | None]
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] | str:
        from benchmarks.experiments.scoring import recon_file
        from benchmarks.metrics.cache import EmbeddingCache, file_content_hash

        clips = self.clips()
        if isinstance(clips, str):
            return clips
        cache = EmbeddingCache(Path(self._config().cache_dir).expanduser() / "embeddings")
        sets: list[list[np.ndarray]] = [[], [], []]
        missing = 0
        for clip in clips:
            paths = [clip.reference, *(recon_file(f, clip) for f in folders if f is not None)]
            for i, path in enumerate(paths):
                emb = (
                    cache.get(cache.key(identity, file_content_hash(path))) if Path(path).is_file() else None
                )
                if emb is None:
                    missing += 1
                else:
                    sets[i].append(np.asarray(emb))
        if missing:
            return (
                f"{NEEDS_CACHE} — {missing} of {3 * len(clips)} embeddings are not in it: rerun `m2l2 tables`"
            )
        return sets[0], sets[1], sets[2]
