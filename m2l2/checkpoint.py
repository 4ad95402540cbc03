"""Checkpoints as safetensors (every tensor) plus a JSON sidecar (everything else). Never pickle.

Layout of one checkpoint `step-00001000`:
  step-00001000.safetensors   tensors under the prefixes `model/`, `ema/` and `optim/<param id>/<key>`
  step-00001000.json          {"format", "version", "step", "config", "optimizer", "extra", "tensors"}
Both files are written to a temporary name and renamed; the JSON is written last, so a checkpoint
counts as complete only once its sidecar exists (a crash mid-save leaves the previous one usable).
RNG states and other scalars live in the JSON as lists or base64 strings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from m2l2.errors import M2L2Error

FORMAT = "m2l2-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step-(\d+)\.json$")


@dataclass
class Checkpoint:
    """A loaded checkpoint: state dicts ready for `load_state_dict`, plus the sidecar's contents."""

    path: Path  # the JSON sidecar
    step: int
    config: dict[str, Any]
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None = None
    optimizer: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _tmp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    tmp = _tmp_name(path)
    save_file(tensors, str(tmp), metadata={"format": FORMAT})
    _fsync(tmp)
    os.replace(tmp, path)


def _cpu(t: torch.Tensor) -> torch.Tensor:
    # A private contiguous copy: safetensors refuses tensors that share storage (tied weights, views).
    return t.detach().to("cpu", copy=True).contiguous()


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimizer state_dict → (tensors keyed optim/<id>/<key>, JSON-safe remainder)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{pid}/{key}"] = _cpu(value)
            else:
                scalars.setdefault(str(pid), {})[key] = _jsonable(value)
    groups = [{k: _jsonable(v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "state_scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        pid, key = name.split("/", 1)
        state.setdefault(int(pid), {})[key] = t
    for pid, entry in meta.get("state_scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise M2L2Error(
        f"cannot store a {type(v).__name__} in a checkpoint sidecar (checkpoint .json): give the "
        "configuration and extras JSON values only (numbers, strings, lists, mappings; no pickle)"
    )


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: dict[str, torch.Tensor],
    *,
    config: dict[str, Any],
    ema: dict[str, torch.Tensor] | None = None,
    optimizer: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    keep_last: int = 0,
) -> Path:
    """Write checkpoint `step` into `directory` and return its JSON path; keep only the newest
    `keep_last` checkpoints there (0 keeps all). `optimizer` is an `optimizer.state_dict()`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(step)
    tensors = {f"model/{k}": _cpu(v) for k, v in model.items()}
    if ema is not None:
        tensors.update({f"ema/{k}": _cpu(v) for k, v in ema.items()})
    optim_meta = None
    if optimizer is not None:
        optim_tensors, optim_meta = _split_optimizer(optimizer)
        tensors.update(optim_tensors)

    _atomic_save_tensors(directory / f"{name}.safetensors", tensors)
    sidecar = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "tensors": f"{name}.safetensors",
        "has_ema": ema is not None,
        "config": _jsonable(config),
        "optimizer": optim_meta,
        "extra": _jsonable(extra or {}),
    }
    json_path = directory / f"{name}.json"
    _atomic_write_bytes(json_path, json.dumps(sidecar, indent=1).encode())
    if keep_last > 0:
        for old in list_checkpoints(directory)[:-keep_last]:
            old.with_suffix(".safetensors").unlink(missing_ok=True)
            old.unlink(missing_ok=True)
    return json_path


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints (sidecar and tensors present) in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m and p.with_suffix(".safetensors").is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """The JSON sidecar for a sidecar, a .safetensors file, a checkpoint folder or a run folder
    (the newest checkpoint in it, looking in `checkpoints/` too)."""
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix == ".json":
            return p
        if p.suffix == ".safetensors" and p.with_suffix(".json").is_file():
            return p.with_suffix(".json")
        raise M2L2Error(
            f"not an m2l2 checkpoint ({p}): pass the step-*.json sidecar, a .safetensors with its sidecar "
            "beside it, or a training run folder"
        )
    if p.is_dir():
        for d in (p, p / "checkpoints"):
            found = list_checkpoints(d)
            if found:
                return found[-1]
        raise M2L2Error(
            f"no checkpoint (step-*.json + step-*.safetensors) in the folder ({p} or {p / 'checkpoints'}): "
            "pass a folder that holds one, or a step-*.json file"
        )
    raise M2L2Error(f"checkpoint not found ({p}): pass a step-*.json file or a training run folder")


REQUIRED_SIDECAR_KEYS = ("step", "tensors")
RESTORE = "restore both files of this checkpoint from where they came (or re-export it)"


def _read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar's mapping, or one error line naming the file and what is wrong with it."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise M2L2Error(f"unreadable checkpoint sidecar, {_json_problem(e)} ({path}): {RESTORE}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise M2L2Error(
            f"not an m2l2 checkpoint sidecar (format {got!r}) ({path}): pass the step-*.json that "
            "`m2l2 train` wrote beside its .safetensors"
        )
    if int(meta.get("version", 0)) > VERSION:
        raise M2L2Error(
            f"checkpoint version {meta['version']} is newer than this m2l2 reads ({path}): update m2l2"
        )
    missing = [k for k in REQUIRED_SIDECAR_KEYS if k not in meta]
    if missing:
        raise M2L2Error(f"checkpoint sidecar lacks {', '.join(missing)} ({path}): {RESTORE}")
    if not isinstance(meta.get("config", {}), dict):
        raise M2L2Error(f"checkpoint sidecar's config is not a mapping ({path}): {RESTORE}")
    return meta


def _json_problem(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON at line {e.lineno} column {e.colno}"
    return str(e)


def _read_tensors(path: Path, prefix: str | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Tensors grouped by their first path component (model, ema, optim), optionally one group only.
    A truncated or damaged file is one error line naming it."""
    if not path.is_file():
        raise M2L2Error(f"checkpoint tensors missing ({path}): {RESTORE}")
    groups: dict[str, dict[str, torch.Tensor]] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                group, _, name = key.partition("/")
                if prefix is not None and group != prefix:
                    continue
                groups.setdefault(group, {})[name] = f.get_tensor(key)
    except Exception as e:  # safetensors raises its own types for cut or overwritten files
        detail = " ".join(str(e).split())[:160]
        raise M2L2Error(f"checkpoint tensors unreadable, truncated or damaged: {detail} ({path}): {RESTORE}") from None
    return groups


def check_state(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Refuse weights that do not fit the model built from the sidecar's configuration: one line naming the
    file, how many tensors are missing, unexpected or of another shape, and the first of each."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {list(state[k].shape)} in the file, {list(expected[k].shape)} expected"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    parts = [
        f"{len(items)} {what} (e.g. {items[0]})"
        for what, items in (("of another shape", shapes), ("missing", missing), ("unexpected", unexpected))
        if items
    ]
    if parts:
        raise M2L2Error(
            f"weights do not match the sidecar's model configuration: {'; '.join(parts)} ({path}): "
            "the .json and .safetensors come from different models; use the pair that was saved together"
        )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a whole checkpoint (for resuming): model, EMA, optimizer state and the sidecar."""
    json_path = resolve_checkpoint(path)
    meta = _read_sidecar(json_path)
    groups = _read_tensors(json_path.parent / meta["tensors"])
    optimizer = None
    if meta.get("optimizer") is not None:
        optimizer = _join_optimizer(groups.get("optim", {}), meta["optimizer"])
    return Checkpoint(
        path=json_path,
        step=int(meta["step"]),
        config=meta.get("config", {}),
        model=groups.get("model", {}),
        ema=groups.get("ema") if meta.get("has_ema") else None,
        optimizer=optimizer,
        extra=meta.get("extra", {}),
    )


def read_inference_weights(
    path: str | Path, ema: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(model config mapping, state dict) for inference: the EMA weights where the checkpoint has them
    and `ema` is true, else the live weights. Reads only the tensors it returns, so the optimizer
    state of a training checkpoint is never loaded."""
    json_path = resolve_checkpoint(path)
    meta = _read_sidecar(json_path)
    config = meta.get("config", {})
    model_config = config.get("model", config)
    group = "ema" if ema and meta.get("has_ema") else "model"
    state = _read_tensors(json_path.parent / meta["tensors"], prefix=group).get(group, {})
    if not state:
        raise M2L2Error(f"the checkpoint holds no {group} weights ({json_path}): {RESTORE}")
    return model_config, state


def export_inference(path: str | Path, out_dir: str | Path) -> Path:
    """Write a small inference-only checkpoint (EMA weights and config, no optimizer) into `out_dir`."""
    json_path = resolve_checkpoint(path)
    meta = _read_sidecar(json_path)
    model_config, state = read_inference_weights(json_path)
    config = dict(meta.get("config", {}))
    config["model"] = model_config
    return save_checkpoint(out_dir, int(meta["step"]), state, config=config)


def weights_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict (names, dtypes, shapes and bytes, in name order): which weights a model has.
    Latent files carry it, so latents are never decoded by another model's weights."""
    digest = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


# --- RNG states (JSON-safe) ---------------------------------------------------------------------


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode()


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (legacy global), torch CPU and CUDA generator states as JSON-safe data."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    out: dict[str, Any] = {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return out


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`; CUDA states are restored only when the device count matches."""
    if "python" in state:
        v, internal, gauss = state["python"]
        random.setstate((v, tuple(internal), gauss))
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "torch" in state:
        torch.set_rng_state(_unb64(state["torch"]))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([_unb64(s) for s in cuda])
