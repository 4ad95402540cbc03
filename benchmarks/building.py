"""Building what a configuration names: autoencoders (with their identity for cache keys) and FAD/KAD embedders."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmarks.config import ModelSpec
from benchmarks.metrics import PER_CLIP_METRICS, embedder_key
from m2l2.errors import M2L2Error


def model_identity(spec: ModelSpec, ae: Any) -> dict[str, Any]:
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


def build_model(spec: ModelSpec, allow_random: bool = False) -> tuple[Any | None, str | None]:
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
        why = ae.provenance.note or ae.provenance.weights or "random init"
        return None, f"has no pretrained weights ({why}): never reported"
    return ae, None


def build_variant(spec: ModelSpec, allow_random: bool) -> tuple[Any | None, str | None]:
    """`build_model` under a fixed seed, so that untrained models (`build: NAME`, test configurations only)
    get the same weights for every variant and every run."""
    from baselines.harness import seeded

    with seeded(0):
        return build_model(spec, allow_random)


def build_embedders(metrics: list[str]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(ready embedders, identities, not-computed reasons) keyed by the set-level metrics (FAD, KAD) of a
    run; the FAD and KAD of one embedder share one instance (built, or found missing, once)."""
    from benchmarks.embedders import WeightsMissingError, get_embedder

    ready, identities, reasons = {}, {}, {}
    built: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in metrics:
        if name in PER_CLIP_METRICS:
            continue
        key = embedder_key(name)
        if key not in built and key not in failed:
            try:
                built[key] = get_embedder(key)
            except WeightsMissingError as e:
                failed[key] = f"weights missing: {e.filename}"
            except M2L2Error as e:
                failed[key] = f"unavailable: {str(e).splitlines()[0]}"
        if key in failed:
            reasons[name] = failed[key]
            continue
        ready[name], identities[name] = built[key], built[key].identity()
    return ready, identities, reasons
