"""Table II end to end: reconstruct an evaluation set with every configured autoencoder, score it, keep provenance.

Every step is resumable and skipped when its inputs are unchanged:

* a reconstruction `<cache>/recon/<config>/<model>/<clip>.flac` is reused when its sidecar key (hash of the
  clip's audio, the model's identity and weights hash, the channel mode) matches;
* per-clip metric rows (SI-SDR, ViSQOL) are appended, one JSON line per clip, to
  `<output>/table2/<config>/per_clip*.jsonl` and reused when their key (reconstruction key + metric
  settings + metric code version) matches, so an interrupted run continues where it stopped;
* a model's aggregates (means, bootstrap CIs, set-level FADs) are reused when the keys of all its rows, the
  metric settings and the embedders' identities are unchanged.

Shards (`shard=(i, n)`) reconstruct and score every n-th clip into their own JSONL file; a later run
without a shard merges the rows, computes the set-level metrics and writes `<output>/table2/<config>.json`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from m2l2.errors import M2L2Error

RECON_VERSION = "recon-v1"  # bump when the way reconstructions are made or stored changes
ROWS_VERSION = "rows-v1"  # bump when per-clip metric code changes (SI-SDR / ViSQOL conventions)
AGG_VERSION = "agg-v1"  # bump when aggregation (bootstrap, FAD) changes
PER_CLIP_METRICS = ("sisdr", "visqol")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aif", ".aiff")
CONFIG_DIR = Path(__file__).parent / "configs"


# ----------------------------------------------------------------------------------------------- config


@dataclass
class DatasetConfig:
    name: str = "suite-music"  # a benchmarks.datasets name, or "folder" (every audio file under root)
    root: str | None = None
    split: str | None = "eval"
    build_suite: list[str] | None = None  # suite parts to build when absent
    max_clips: int | None = None


@dataclass
class ModelConfig:
    name: str  # baselines registry name
    label: str = ""
    kind: str = "autoencoder"  # "reference" (identity), "codec" or "autoencoder": decides bold/underline
    options: dict[str, Any] = field(default_factory=dict)
    when_exists: str | None = None  # only run when this path exists (checkpoints not shipped)

    def __post_init__(self) -> None:
        self.label = self.label or self.name
        if self.kind not in ("reference", "codec", "autoencoder"):
            raise M2L2Error(f"model {self.name}: kind must be reference, codec or autoencoder, not {self.kind!r}")


@dataclass
class EvalSettings:
    n_boot: int = 1000
    fad_n_boot: int = 200
    ci_level: float = 0.95
    seed: int = 0
    visqol_workers: int | None = None
    batch: int = 16
    sisdr_ceiling_db: float = 100.0


@dataclass
class TablesConfig:
    name: str
    dataset: DatasetConfig
    models: list[ModelConfig]
    metrics: list[str]
    eval: EvalSettings = field(default_factory=EvalSettings)
    cache_dir: str = "~/.cache/m2l2/tables"
    output_dir: str = "results"
    channel_mode: str = "downmix"
    allow_random: bool = False  # tests only: run random-weights models (their rows are labelled, never published)
    # Sections of the experiments beyond Table II, parsed by their modules (benchmarks.sigma_sweep, ...).
    fig3: dict[str, Any] = field(default_factory=dict)
    table1: dict[str, Any] = field(default_factory=dict)
    seams: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)
    table3: dict[str, Any] = field(default_factory=dict)  # parsed by benchmarks.probing.run
    source: str | None = None  # the YAML file it came from

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out


def resolve_config_path(config: str | Path | None) -> Path:
    """A YAML path, or the name of a shipped configuration ("default", "paper")."""
    if config is None:
        return CONFIG_DIR / "default.yaml"
    p = Path(config).expanduser()
    if p.is_file():
        return p
    shipped = CONFIG_DIR / f"{config}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
    raise M2L2Error(f"configuration not found: {config} (a YAML file, or one of: {names})")


def load_config(config: str | Path | None = None) -> TablesConfig:
    """Parse a tables configuration from YAML, checking keys so typos fail loudly."""
    path = resolve_config_path(config)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return config_from_dict(data, source=str(path))


def _build(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise M2L2Error(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise M2L2Error(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as e:
        raise M2L2Error(f"{where}: {e}") from e


def config_from_dict(data: dict[str, Any], source: str | None = None) -> TablesConfig:
    where = source or "configuration"
    data = dict(data)
    try:
        data["dataset"] = _build(DatasetConfig, data.get("dataset") or {}, f"{where}: dataset")
        data["models"] = [_build(ModelConfig, m, f"{where}: models[{i}]") for i, m in enumerate(data.get("models") or [])]
        data["eval"] = _build(EvalSettings, data.get("eval") or {}, f"{where}: eval")
        cfg = _build(TablesConfig, {**data, "source": source}, where)
    except TypeError as e:
        raise M2L2Error(f"{where}: {e}") from e
    if not cfg.models:
        raise M2L2Error(f"{where}: no models listed")
    from benchmarks.metrics.evaluate import parse_metrics

    cfg.metrics = parse_metrics(cfg.metrics)
    return cfg


# ----------------------------------------------------------------------------------------------- helpers


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _num(v: Any) -> Any:
    """JSON-safe float (inf as a string)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else "-inf" if v < 0 else None
    return v


def _float(v: Any) -> float | None:
    if v is None:
        return None
    return float(v)  # float("inf") parses the strings written by _num


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


def compact_rows(rows_dir: Path, read_at_start: dict[tuple[str, str], dict[str, Any]],
                 current: dict[str, dict[str, dict[str, Any]]]) -> bool:
    """Rewrite `per_clip.jsonl` with one row per (model, clip) and fold shard files into it.

    `current` holds the rows this run used (label → clip → row); rows of other models (skipped now, e.g.
    weights missing) are kept as the run read them at its start (`read_at_start`, (label, clip) → row). Stale
    rows of changed inputs go. Run only once every shard has finished. True when anything was rewritten."""
    kept = {k: r for k, r in read_at_start.items() if k[0] not in current}
    kept.update({(label, clip): r for label, by_clip in current.items() for clip, r in by_clip.items()})
    text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in kept.values())
    target = rows_dir / "per_clip.jsonl"
    shards = sorted(rows_dir.glob("per_clip.shard-*.jsonl"))
    if not shards and target.is_file() and target.read_text(encoding="utf-8") == text:
        return False
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    for path in shards:
        path.unlink()
    return True


# ----------------------------------------------------------------------------------------------- clips


@dataclass
class Clip:
    id: str
    reference: Path  # the file metrics compare against
    hash: str  # content hash of the reference audio
    item: Any = None


def _folder_items(root: Path) -> list[Any]:
    from benchmarks.datasets import Item

    if not root.is_dir():
        raise M2L2Error(f"dataset folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise M2L2Error(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {root}")
    return [Item(p.relative_to(root).with_suffix("").as_posix(), p, {}, "eval") for p in files]


def load_clips(cfg: TablesConfig, cache: Path, skipped: dict[str, str] | None = None) -> list[Clip]:
    """The evaluation clips, with content hashes (derived clips are written once into the cache).

    A clip whose audio is unusable (unreadable, empty, NaN/Inf) is left out with a printed line, and its
    reason goes into `skipped` (clip id → reason) when given."""
    from benchmarks.metrics.cache import array_content_hash, file_content_hash
    from m2l2.audio import AudioError, audio_problem, save_audio

    ds = cfg.dataset
    root = Path(ds.root).expanduser() if ds.root else None
    if ds.name == "folder":
        if root is None:
            raise M2L2Error("dataset 'folder' needs root: the folder of audio files to evaluate on")
        items = _folder_items(root)
    else:
        if ds.name.startswith("suite-") and ds.build_suite:
            from benchmarks.suite import ensure_built

            print(f"default suite: checking parts {', '.join(ds.build_suite)} (built when absent)", flush=True)
            ensure_built(root, parts=list(ds.build_suite))
        from benchmarks.datasets import load

        items = load(ds.name, root, split=ds.split)
    items = sorted(items, key=lambda it: it.id)
    if ds.max_clips is not None:
        items = items[: ds.max_clips]
    clips = []
    for it in tqdm(items, desc="hashing clips", unit="clip", file=sys.stdout, mininterval=1.0):
        if it.loader is None and it.path is not None:
            problem = audio_problem(it.path)
            if problem is not None:
                _skip_clip(it.id, f"{Path(it.path).name}: {problem}", skipped)
                continue
            clips.append(Clip(it.id, Path(it.path), file_content_hash(it.path), it))
            continue
        try:
            audio, sr = it.load()
        except AudioError as e:
            _skip_clip(it.id, f"{e.path.name}: {e.reason}", skipped)
            continue
        content = array_content_hash(audio, sr)
        ref = cache / "references" / f"{content[6:22]}.flac"
        if not ref.is_file():
            save_audio(ref, audio, sr)
        clips.append(Clip(it.id, ref, content, it))
    if len({c.id for c in clips}) != len(clips):
        raise M2L2Error(f"{ds.name}: clip ids are not unique")
    return clips


def _skip_clip(clip: str, why: str, skipped: dict[str, str] | None) -> None:
    print(f"warning: skipped clip {clip}: {why}", file=sys.stderr, flush=True)
    if skipped is not None:
        skipped[clip] = why


# ----------------------------------------------------------------------------------------------- summary


@dataclass
class RunSummary:
    """What a run computed, reused and skipped, printed at the end."""

    name: str = "table2"  # which experiment
    reconstructed: int = 0
    reused_reconstructions: int = 0
    rows_computed: int = 0
    rows_reused: int = 0
    aggregates_computed: int = 0
    aggregates_reused: int = 0
    skipped_models: dict[str, str] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)  # metric → reason
    seconds: float = 0.0
    result_file: str | None = None
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # experiment-specific lines

    def text(self) -> str:
        rows = {"table2": "per-clip metric rows", "seams": "per-clip seam rows", "speed": "timed models"}
        aggs = {"table2": "model aggregates"}
        counters = [
            ("reconstructions", self.reconstructed, self.reused_reconstructions, " (unchanged inputs)"),
            (rows.get(self.name, "rows"), self.rows_computed, self.rows_reused, ""),
            (aggs.get(self.name, "points (model variants scored)"), self.aggregates_computed, self.aggregates_reused, ""),
        ]
        lines = [f"{self.name} summary ({self.seconds:.1f} s):"]
        lines += [f"  {what}: {done} computed, {reused} reused{why}" for what, done, reused, why in counters
                  if self.name == "table2" or done or reused]
        lines += [f"  {note}" for note in self.notes]
        for label, why in self.skipped_models.items():
            lines.append(f"  skipped model {label}: {why}")
        for metric, why in self.not_computed.items():
            lines.append(f"  not computed {metric}: {why}")
        if self.result_file:
            lines.append(f"  results: {self.result_file}")
        for t in self.tables:
            lines.append(f"  table: {t}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- models


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("m2l2", "numpy", "scipy", "torch", "soxr", "soundfile", "av", "visqol-python", "musicnn",
                "laion-clap", "music2latent", "pyyaml", "tqdm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def model_identity(spec: ModelConfig, ae: Any) -> dict[str, Any]:
    """Everything that changes a model's output: registry name, options, info and weights provenance."""
    prov = dataclasses.asdict(ae.provenance)
    out = {"name": spec.name, "options": spec.options, "info": ae.info(), "provenance": prov}
    config = getattr(getattr(ae, "model", None), "config", None)
    if hasattr(config, "to_dict"):  # Music2Latent2: untrained `build=NAME` models change with their config
        out["architecture"] = config.to_dict()
    return out


def is_random_weights(ae: Any) -> bool:
    """True for untrained models: no pretrained weights, or an m2l2 checkpoint saved at step 0."""
    prov = ae.provenance
    return not prov.pretrained or "(step 0)" in (prov.weights or "")


def build_model(spec: ModelConfig, allow_random: bool = False) -> tuple[Any | None, str | None]:
    """(autoencoder, None) or (None, why it is skipped). Random-weights models are never reported; with
    `allow_random` (test configurations) they are built, and result files mark them `random_weights`."""
    import baselines

    if spec.when_exists and not Path(spec.when_exists).expanduser().exists():
        return None, f"checkpoint {spec.when_exists} does not exist (train one or place it there)"
    try:
        ae = baselines.get(spec.name, **spec.options)
    except M2L2Error as e:
        return None, str(e).splitlines()[0]
    if is_random_weights(ae) and not allow_random:
        return None, f"has no pretrained weights ({ae.provenance.note or ae.provenance.weights or 'random init'}): " \
            "never reported"
    return ae, None


# ----------------------------------------------------------------------------------------------- embedders


def build_embedders(metrics: list[str]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(ready embedders, identities, not-computed reasons) for the FAD metrics of a run."""
    from benchmarks.embedders import WeightsMissingError, get_embedder

    ready, identities, reasons = {}, {}, {}
    for name in metrics:
        if name in PER_CLIP_METRICS:
            continue
        try:
            emb = get_embedder(name)
        except WeightsMissingError as e:
            reasons[name] = f"weights missing: {e.filename}"
            continue
        except M2L2Error as e:
            reasons[name] = f"unavailable: {str(e).splitlines()[0]}"
            continue
        ready[name], identities[name] = emb, emb.identity()
    return ready, identities, reasons


# ----------------------------------------------------------------------------------------------- run


ClipHook = Callable[[str, str, str], None]  # (stage, model label, clip id), called after each unit of work


def _reconstruct(cfg: TablesConfig, ae: Any, model_key: str, clips: list[Clip], folder: Path,
                 summary: RunSummary, progress: bool, on_clip: ClipHook | None, label: str) -> dict[str, str]:
    """Reconstruct missing/stale clips into `folder`; returns clip id → reconstruction key."""
    from baselines.harness import reconstruct, seeded
    from m2l2.audio import load_audio, save_audio

    keys = {}
    bar = tqdm(clips, desc=f"{label}: reconstruct", unit="clip", disable=not progress, file=sys.stdout)
    for clip in bar:
        key = _sha([RECON_VERSION, clip.hash, model_key, cfg.channel_mode, cfg.eval.seed])
        keys[clip.id] = key
        out, side = folder / f"{_slug(clip.id)}.flac", folder / f"{_slug(clip.id)}.json"
        if out.is_file() and side.is_file():
            try:
                if json.loads(side.read_text()).get("key") == key:
                    summary.reused_reconstructions += 1
                    continue
            except json.JSONDecodeError:
                pass
        audio, sr = clip.item.load() if clip.item is not None else load_audio(clip.reference)
        t0 = time.perf_counter()
        with seeded(cfg.eval.seed if ae.stochastic else None):
            y = reconstruct(ae, audio, sr, channel_mode=cfg.channel_mode)
        seconds = time.perf_counter() - t0
        save_audio(out, y, sr)  # atomic; 16-bit FLAC (the sidecar is written after, so it marks completion)
        _write_json(side, {"key": key, "clip": clip.id, "seconds": round(seconds, 4)})
        summary.reconstructed += 1
        if on_clip:
            on_clip("reconstruct", label, clip.id)
    return keys


def _score_rows(cfg: TablesConfig, clips: list[Clip], recon: dict[str, str], folder: Path, rows_file: Path,
                existing: dict[str, dict[str, Any]], summary: RunSummary, progress: bool,
                on_clip: ClipHook | None, label: str) -> dict[str, dict[str, Any]]:
    """Per-clip SI-SDR / ViSQOL rows for `clips`, appended as they are computed; returns clip → row."""
    from benchmarks.metrics.evaluate import ClipPair, EvalConfig, evaluate_pairs

    metrics = [m for m in cfg.metrics if m in PER_CLIP_METRICS]
    settings = {"metrics": metrics, "ceiling": cfg.eval.sisdr_ceiling_db}
    rows, pending = {}, []
    for clip in clips:
        key = _sha([ROWS_VERSION, recon[clip.id], settings])
        row = existing.get(clip.id)
        if row is not None and row.get("key") == key:
            rows[clip.id] = row
            summary.rows_reused += 1
        else:
            pending.append((clip, key))
    if not metrics:
        for clip, key in pending:
            rows[clip.id] = {"model": label, "clip": clip.id, "key": key}
        return rows
    bar = tqdm(total=len(pending), desc=f"{label}: {'+'.join(metrics)}", unit="clip", disable=not progress,
               file=sys.stdout)
    ecfg = EvalConfig(n_boot=0, seed=cfg.eval.seed, visqol_workers=cfg.eval.visqol_workers,
                      sisdr_ceiling_db=cfg.eval.sisdr_ceiling_db)
    for start in range(0, len(pending), max(1, cfg.eval.batch)):
        batch = pending[start : start + max(1, cfg.eval.batch)]
        pairs = [ClipPair(c.id, c.reference, folder / f"{_slug(c.id)}.flac") for c, _ in batch]
        ev = evaluate_pairs(pairs, metrics, ecfg, progress=False)
        for i, (clip, key) in enumerate(batch):
            row: dict[str, Any] = {"model": label, "clip": clip.id, "key": key, "reasons": {}}
            for m in metrics:
                row[m] = _num(ev.per_clip[m][i])
                s = ev.summaries[m]
                if row[m] is None:
                    row["reasons"][m] = s.skipped.get(clip.id) or s.reason or "not computed"
            append_row(rows_file, row)
            rows[clip.id] = row
            summary.rows_computed += 1
            bar.update()
            if on_clip:
                on_clip("score", label, clip.id)
    bar.close()
    return rows


def _row_summary(metric: str, rows: list[dict[str, Any]], settings: EvalSettings) -> dict[str, Any]:
    """Mean and bootstrap CI of a per-clip metric over the rows (same conventions as evaluate_pairs)."""
    from benchmarks.metrics.bootstrap import bootstrap_mean_ci
    from benchmarks.metrics.evaluate import NOT_COMPUTED, MetricSummary

    values = [_float(r.get(metric)) for r in rows]
    valid = np.array([v for v in values if v is not None], dtype=np.float64)
    skipped = {r["clip"]: r.get("reasons", {}).get(metric, "not computed") for r, v in zip(rows, values) if v is None}
    if not valid.size:
        reasons = sorted(set(skipped.values()))
        return MetricSummary(metric, NOT_COMPUTED, reason="; ".join(reasons) or "no clips").to_dict()
    details: dict[str, Any] = {}
    if metric == "sisdr":
        details = {"unit": "dB", "n_infinite": int(np.isposinf(valid).sum()), "ceiling_db": settings.sisdr_ceiling_db}
        valid = np.minimum(valid, settings.sisdr_ceiling_db)
    else:
        details = {"unit": "MOS-LQO"}
    ci = bootstrap_mean_ci(valid, settings.n_boot, settings.seed, settings.ci_level)
    return MetricSummary(metric, "ok", value=float(valid.mean()), ci=ci, n=int(valid.size), skipped=skipped,
                         details=details).to_dict()


def _aggregate(cfg: TablesConfig, clips: list[Clip], rows: dict[str, dict[str, Any]], folder: Path,
               embedders: dict[str, Any], reasons: dict[str, str], cache: Path, progress: bool
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metric → summary dict, metric → per-clip FAD list) for one model over all clips."""
    from benchmarks.metrics.evaluate import ClipPair, EvalConfig, MetricSummary, evaluate_pairs

    ordered = [rows[c.id] for c in clips]
    out: dict[str, Any] = {}
    per_clip: dict[str, Any] = {}
    fad = [m for m in cfg.metrics if m in embedders]
    fad_results = None
    if fad:
        pairs = [ClipPair(c.id, c.reference, folder / f"{_slug(c.id)}.flac") for c in clips]
        ecfg = EvalConfig(n_boot=cfg.eval.n_boot, fad_n_boot=cfg.eval.fad_n_boot, ci_level=cfg.eval.ci_level,
                          seed=cfg.eval.seed, cache_dir=str(cache / "embeddings"))
        fad_results = evaluate_pairs(pairs, fad, ecfg, embedders={m: embedders[m] for m in fad}, progress=progress)
    for m in cfg.metrics:
        if m in PER_CLIP_METRICS:
            out[m] = _row_summary(m, ordered, cfg.eval)
        elif fad_results is not None and m in fad_results.summaries:
            out[m] = fad_results.summaries[m].to_dict()
            per_clip[m] = [_num(v) for v in fad_results.per_clip[m]]
        else:
            out[m] = MetricSummary(m, "not computed", reason=reasons.get(m, "unavailable")).to_dict()
    return out, per_clip


def _git() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def _device() -> dict[str, Any]:
    info = {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "host": platform.node()}
    try:
        import torch

        info["torch_cuda"] = torch.cuda.is_available()
        if info["torch_cuda"]:
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def provenance(models_out: list[dict[str, Any]], codes: dict[str, str]) -> dict[str, Any]:
    """Provenance block of a result file: date, git commit, package versions, device, weights of each model."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": _git(),
        "versions": _versions(),
        "device": _device(),
        "weights": {m["label"]: {"weights": m["identity"]["provenance"].get("weights"),
                                 "sha256": m["identity"]["provenance"].get("sha256"),
                                 "note": m["identity"]["provenance"].get("note")} for m in models_out},
        "codes": codes,
    }


def result_path(cfg: TablesConfig) -> Path:
    return Path(cfg.output_dir).expanduser() / "table2" / f"{_slug(cfg.name)}.json"


def run(cfg: TablesConfig, shard: tuple[int, int] = (0, 1), progress: bool = True,
        on_clip: ClipHook | None = None, render: bool = True) -> RunSummary:
    """Run Table II for `cfg` (see the module docstring); returns what was computed, reused and skipped."""
    t_start = time.time()
    index, count = shard
    if not (count >= 1 and 0 <= index < count):
        raise M2L2Error(f"bad shard {index}/{count}: use i/n with 0 <= i < n")
    summary = RunSummary()
    cache = Path(cfg.cache_dir).expanduser()
    out_json = result_path(cfg)
    rows_dir = out_json.with_suffix("")
    rows_file = rows_dir / ("per_clip.jsonl" if count == 1 else f"per_clip.shard-{index}-of-{count}.jsonl")
    skipped_clips: dict[str, str] = {}
    clips = load_clips(cfg, cache, skipped_clips)
    summary.notes += [f"skipped clip {c}: {why}" for c, why in skipped_clips.items()]
    if not clips:
        raise M2L2Error(f"{cfg.dataset.name}: no clips to evaluate")
    mine = [c for i, c in enumerate(clips) if i % count == index]
    print(f"{cfg.name}: {len(clips)} clips of {cfg.dataset.name}"
          + (f", shard {index}/{count}: {len(mine)} clips" if count > 1 else ""), flush=True)

    previous: dict[str, Any] = {}
    if out_json.is_file():
        try:
            previous = {m["label"]: m for m in json.loads(out_json.read_text(encoding="utf-8")).get("models", [])}
        except (json.JSONDecodeError, KeyError, TypeError):
            previous = {}
    all_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in read_rows(rows_dir):
        all_rows[(row.get("model"), row.get("clip"))] = row  # later lines win

    embedders: dict[str, Any] = {}
    identities: dict[str, str] = {}
    reasons: dict[str, str] = {}
    if count == 1:
        embedders, identities, reasons = build_embedders(cfg.metrics)
        summary.not_computed.update(reasons)
    models_out: list[dict[str, Any]] = []
    used_rows: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in cfg.models:
        ae, why = build_model(spec, cfg.allow_random)
        if ae is None:
            summary.skipped_models[spec.label] = why or "unavailable"
            print(f"[{spec.label}] skipped: {why}", flush=True)
            continue
        identity = model_identity(spec, ae)
        model_key = _sha(identity)
        folder = cache / "recon" / _slug(cfg.name) / _slug(spec.label)
        recon = _reconstruct(cfg, ae, model_key, mine, folder, summary, progress, on_clip, spec.label)
        existing = {clip: r for (label, clip), r in all_rows.items() if label == spec.label}
        rows = _score_rows(cfg, mine, recon, folder, rows_file, existing, summary, progress, on_clip, spec.label)
        if count > 1:
            continue
        used_rows[spec.label] = {c.id: rows[c.id] for c in clips}
        agg_key = _sha([AGG_VERSION, [rows[c.id]["key"] for c in clips], cfg.metrics,
                        dataclasses.asdict(cfg.eval), identities, reasons])
        prev = previous.get(spec.label)
        if prev is not None and prev.get("aggregate_key") == agg_key:
            models_out.append(prev)
            summary.aggregates_reused += 1
            continue
        metrics, per_clip_fad = _aggregate(cfg, clips, rows, folder, embedders, reasons, cache, progress)
        info = ae.info()
        models_out.append({
            "label": spec.label, "name": spec.name, "kind": spec.kind, "options": spec.options,
            "compression_ratio": info["compression_ratio"], "stereo": info["stereo"],
            "pretrained": info["pretrained"] and not is_random_weights(ae), "identity": identity, "model_key": model_key,
            "aggregate_key": agg_key, "clips": len(clips), "metrics": metrics, "per_clip_fad": per_clip_fad,
        })
        summary.aggregates_computed += 1
    if count > 1:
        summary.seconds = time.time() - t_start
        print(f"shard {index}/{count} done: rows in {rows_file}; run without --shard to merge and render", flush=True)
        return summary
    compact_rows(rows_dir, all_rows, used_rows)
    ds = cfg.dataset
    result = {
        "table": "table2",
        "config_name": cfg.name,
        "config": cfg.as_dict(),
        "config_file": cfg.source,
        "dataset": {"name": ds.name, "split": ds.split, "clips": len(clips),
                    "root": str(Path(ds.root).expanduser()) if ds.root else None},
        "metrics": cfg.metrics,
        "embedders": identities,
        "not_computed": reasons,
        "models": models_out,
        "skipped_models": summary.skipped_models,
        "skipped_clips": skipped_clips,
        "per_clip_rows": str(rows_dir / "per_clip*.jsonl"),
        "provenance": provenance(models_out, {"recon": RECON_VERSION, "rows": ROWS_VERSION, "aggregate": AGG_VERSION}),
    }
    from benchmarks.render import render_table2

    finish_result(summary, out_json, result, render_table2 if render else None,
                  Path(cfg.output_dir).expanduser() / "tables", force=bool(summary.aggregates_computed))
    summary.seconds = time.time() - t_start
    return summary


def write_if_changed(path: Path, result: dict[str, Any]) -> bool:
    """Write a result file unless only its creation date would change; True when written."""
    if path.is_file() and not _changed(path, result):
        return False
    _write_json(path, result)
    return True


def finish_result(summary: Any, path: Path, result: dict[str, Any], render_fn: Any = None,
                  render_dir: Path | None = None, force: bool = False) -> Any:
    """Write an experiment's result file (when `force`d or when more than its date changed), render it with
    `render_fn(path, render_dir)` when given, and record both in the summary."""
    if force:
        _write_json(path, result)
    else:
        write_if_changed(path, result)
    summary.result_file = str(path)
    if render_fn is not None:
        summary.tables = [str(p) for p in render_fn(path, render_dir)]
    return summary


def _changed(path: Path, result: dict[str, Any]) -> bool:
    """True when anything but the creation date and git state differs from the file on disk, so that a rerun
    that recomputes nothing keeps the file and its provenance names the commit that computed it."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return True
    volatile = ("created", "git")
    strip = lambda d: {**d, "provenance": {k: v for k, v in d.get("provenance", {}).items() if k not in volatile}}  # noqa: E731
    return strip(old) != strip(json.loads(json.dumps(result, allow_nan=False)))
