"""Time-averaged embeddings, one vector per item per model, cached on disk one `.npy` per item.

Why per item: datasets such as MagnaTagATune (25k clips) never fit in memory as audio, and an interrupted
extraction must resume. The cache key is sha256(feature code version, model identity, the item's audio
content hash), so a changed file, a different checkpoint or a changed model option gives a new entry and never
a stale vector. Only one item's audio is decoded at a time.

Models: a pretrained embedder (`embedder: fad-musicnn`: MusiCNN-MSD's penultimate layer per 3-s patch at
16 kHz mono, averaged over patches, as mir_ref averages essentia's MusiCNN output) or an autoencoder adapter
with `embed(audio)` (`baseline: music2latent2`: the Music2Latent2 MIR feature, averaged over chunks).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from m2l2.errors import M2L2Error

FEATURES_VERSION = "probe-features-v1"  # bump when the way a clip becomes one vector changes


@dataclass
class FeatureModelConfig:
    """One row of Table III: a pretrained embedder or an autoencoder adapter that can `embed`."""

    label: str
    kind: str = "autoencoder"  # "representation" or "autoencoder" (decides the underline)
    embedder: str | None = None  # a benchmarks.embedders name (e.g. fad-musicnn)
    baseline: str | None = None  # a baselines registry name (its adapter must implement embed)
    options: dict[str, Any] = field(default_factory=dict)
    when_exists: str | None = None  # skip (with the reason) when this path does not exist
    allow_random: bool = False  # tests only: accept an adapter without pretrained weights

    def __post_init__(self) -> None:
        if (self.embedder is None) == (self.baseline is None):
            given = ("both embedder: and baseline:" if self.embedder is not None
                     else "neither embedder: nor baseline:")
            raise M2L2Error(
                f"{given} given for model {self.label!r} (table3.models): give exactly one of them"
            )
        if self.kind not in ("representation", "autoencoder"):
            raise M2L2Error(
                f"unknown kind {self.kind!r} of model {self.label!r} (table3.models[].kind): use "
                "representation or autoencoder"
            )


class FeatureModel:
    """Turns one clip into one vector: [C, N] float32 at `sample_rate` with `channels` → [D]."""

    def __init__(
        self,
        label: str,
        identity: dict[str, Any],
        sample_rate: int,
        channels: int,
        fn: Callable[[np.ndarray], np.ndarray],
        provenance: dict[str, Any] | None = None,
        many_fn: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
    ):
        self.label = label
        self.identity = identity
        self.sample_rate = sample_rate
        self.channels = channels
        self._fn = fn
        self._many_fn = many_fn  # optional: several clips per network call (short clips batch much better)
        self.provenance = provenance or {}

    @property
    def key(self) -> str:
        return hashlib.sha256(
            json.dumps([FEATURES_VERSION, self.identity], sort_keys=True, default=str).encode()
        ).hexdigest()

    def embed_clip(self, audio: np.ndarray) -> np.ndarray:
        return self._check(self._fn(audio))

    def embed_clips(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        if self._many_fn is None or len(clips) == 1:
            return [self.embed_clip(c) for c in clips]
        return [self._check(v) for v in self._many_fn(clips)]

    def _check(self, v: Any) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        if v.ndim != 1 or not np.all(np.isfinite(v)):
            raise M2L2Error(
                f"model {self.label!r} gave a clip embedding that is not a finite vector, shape {v.shape} "
                "(table3.models): check the model's weights and options"
            )
        return v


def build_feature_model(spec: FeatureModelConfig) -> tuple[FeatureModel | None, str | None]:
    """(model, None) or (None, why it is skipped). Random weights are refused unless `allow_random`."""
    if spec.when_exists and not Path(spec.when_exists).expanduser().exists():
        return None, f"{spec.when_exists} does not exist"
    if spec.embedder is not None:
        from benchmarks.embedders import get_embedder

        try:
            emb = get_embedder(spec.embedder, **spec.options)
        except M2L2Error as e:
            return None, str(e).splitlines()[0]

        def mean_embedding(audio: np.ndarray) -> np.ndarray:
            return emb.embed(audio[0]).mean(0)

        many = _musicnn_many(emb) if hasattr(emb, "patches") and hasattr(emb, "net") else None
        ident = {
            "embedder": spec.embedder,
            "options": spec.options,
            "identity": emb.identity(),
            "aggregate": "mean over frames",
        }
        return FeatureModel(
            spec.label,
            ident,
            int(emb.sample_rate),
            1,
            mean_embedding,
            {"weights": emb.identity()},
            many_fn=many,
        ), None
    import baselines

    try:
        ae = baselines.get(spec.baseline, **spec.options)
    except M2L2Error as e:
        return None, str(e).splitlines()[0]
    if not ae.has_embed:
        return None, f"the {spec.baseline} adapter has no embed() (no MIR feature defined)"
    untrained = not ae.pretrained or "(step 0)" in (ae.provenance.weights or "")  # step 0: initial weights
    if untrained and not spec.allow_random:
        return None, f"has no pretrained weights ({ae.provenance.note or 'random init'}): never reported"
    prov = ae.provenance
    ident = {
        "baseline": spec.baseline,
        "options": spec.options,
        "weights": prov.weights,
        "sha256": prov.sha256,
        "pretrained": prov.pretrained,
        "aggregate": "adapter embed()",
    }
    return FeatureModel(
        spec.label,
        ident,
        int(ae.sample_rate),
        int(ae.channels),
        ae.embed,
        {"weights": prov.weights, "sha256": prov.sha256, "note": prov.note, "pretrained": prov.pretrained},
    ), None


def _musicnn_many(emb: Any, batch: int = 32) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """Embed several clips with one network call per `batch` patches (a 3-s note is a single patch, and the
    network costs about half as much per patch in batches). Same patches and network as `emb.embed`."""
    import torch

    @torch.no_grad()
    def run(clips: list[np.ndarray]) -> list[np.ndarray]:
        patches = [emb.patches(c[0]) for c in clips]
        flat = np.concatenate(patches).astype(np.float32)
        outs = []
        for i in range(0, len(flat), batch):
            x = torch.from_numpy(flat[i : i + batch]).to(emb.device, emb.dtype)
            outs.append(emb.net(x)[1].double().cpu().numpy())
        pen = np.concatenate(outs).astype(np.float32)  # float32 per patch, as emb.embed returns
        bounds = np.cumsum([0] + [len(p) for p in patches])
        return [pen[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])]

    return run


def content_hash(item: Any) -> str:
    """The item's audio identity: sha256 of its file, or of its decoded samples for derived items."""
    from benchmarks.metrics.cache import array_content_hash, file_content_hash

    if getattr(item, "loader", None) is None and item.path is not None:
        return file_content_hash(item.path)
    audio, sr = item.load()
    return array_content_hash(audio, sr)


class FeatureCache:
    """`<root>/<model key[:16]>/<entry key[:2]>/<entry key>.npy`, written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.hits = 0
        self.misses = 0

    def path(self, model: FeatureModel, audio_hash: str) -> Path:
        key = hashlib.sha256(f"{model.key}\n{audio_hash}".encode()).hexdigest()
        return self.root / model.key[:16] / key[:2] / f"{key}.npy"

    def get(self, path: Path) -> np.ndarray | None:
        """The cached feature, or None: absent, or damaged (checksum, shape, non-finite: logged, rebuilt)."""
        from benchmarks.metrics.cache import load_array

        return load_array(path, "feature")

    @staticmethod
    def put(path: Path, value: np.ndarray) -> None:
        """Store a feature with its checksum record; a non-finite one is not kept."""
        from benchmarks.metrics.cache import save_array

        if np.isfinite(value).all():
            save_array(path, value)


def extract_features(
    model: FeatureModel,
    items: Sequence[Any],
    cache_dir: str | Path,
    progress: bool = True,
    hashes: dict[str, str] | None = None,
    batch_clips: int = 16,
) -> tuple[np.ndarray, dict[str, int]]:
    """[len(items), D] float32 time-averaged embeddings (cached per item) and {"computed", "reused"} counts.

    `hashes` (item id → content hash) avoids re-hashing files when several models share the items. Up to
    `batch_clips` clips not in the cache are decoded and embedded together (never the whole dataset).
    """
    cache = FeatureCache(cache_dir)
    rows: list[np.ndarray | None] = []
    stats = {"computed": 0, "reused": 0}
    pending: list[tuple[int, Any, Path]] = []  # (row, item, cache path) waiting for one batched call

    def flush() -> None:
        clips = [it.load(sample_rate=model.sample_rate, channels=model.channels)[0] for _, it, _ in pending]
        for (row, _, path), v in zip(pending, model.embed_clips(clips)):
            cache.put(path, v)
            rows[row] = v
            stats["computed"] += 1
        pending.clear()

    bar = tqdm(
        items,
        desc=f"{model.label}: features",
        unit="clip",
        disable=not progress,
        file=sys.stdout,
        mininterval=1.0,
    )
    for it in bar:
        h = hashes.get(it.id) if hashes is not None else None
        if h is None:
            h = content_hash(it)
            if hashes is not None:
                hashes[it.id] = h
        path = cache.path(model, h)
        v = cache.get(path)
        rows.append(v)
        if v is None:
            pending.append((len(rows) - 1, it, path))
            if len(pending) >= batch_clips:
                flush()
        else:
            stats["reused"] += 1
    if pending:
        flush()
    bar.close()
    if len({r.shape for r in rows}) > 1:
        raise M2L2Error(
            f"model {model.label!r} gave embeddings of different sizes {sorted({r.shape for r in rows})} "
            "(table3.models): give it options under which every clip gives a vector of one size"
        )
    return (np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)), stats
