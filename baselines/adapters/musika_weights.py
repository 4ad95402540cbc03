"""Reading Musika's published Keras .h5 weight files (h5py, no TensorFlow) into the PyTorch port, and where
those files are expected (registered with m2l2.weights)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from baselines.adapters.musika_net import ConvBlock, KerasMapped
from baselines.interface import Package, import_optional
from m2l2.errors import M2L2Error
from m2l2.weights import WeightsFile, register_weights, weights_dir

HUB = "https://huggingface.co/marcop/musika_ae"
PARTS = ("enc", "enc2", "dec", "dec2")
WEIGHTS = {
    part: register_weights(
        WeightsFile(
            name=f"musika-{part}",
            filename=f"musika/{part}.h5",
            url=f"{HUB}/resolve/main/{part}.h5",
            licence="see the model card of marcop/musika_ae (Musika code: MIT)",
            used_by="baselines: musika",
        )
    )
    for part in PARTS
}
PACKAGE = Package("h5py", "h5py>=3.8", "reads Musika's Keras .h5 weights; TensorFlow is not needed")


# --- reading Keras .h5 weights ---------------------------------------------------------------------

_NAME = re.compile(r"^(?P<kind>.*?)(?:_(?P<index>\d+))?$")
_WRONG_FILE = "use the matching file, enc.h5 / enc2.h5 / dec.h5 / dec2.h5 of marcop/musika_ae"


def _layer_kind(name: str) -> tuple[str, int]:
    """'conv2d_transpose_12' -> ('conv2d_transpose', 12); 'conv2d' -> ('conv2d', 0); 'cout' -> ('cout', 0)."""
    m = _NAME.match(name)
    assert m is not None
    return m["kind"], int(m["index"] or 0)


def read_keras_h5(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> its weight arrays, in Keras' order (kernel, bias), from a Keras 2 `save_weights` .h5 file."""
    h5py = import_optional(PACKAGE)
    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(str(path), "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs.get("layer_names", [])]
        if not names:
            raise M2L2Error(
                f"not a Keras weights file, no 'layer_names' attribute ({path}): pass a Keras 2 save_weights "
                ".h5"
            )
        for name in names:
            group = root[name]
            wnames = [w.decode() if isinstance(w, bytes) else str(w) for w in group.attrs.get("weight_names", [])]
            if wnames:
                out[name] = [np.asarray(group[w]) for w in wnames]
    return out


def load_keras_weights(net: KerasMapped, layers: dict[str, list[np.ndarray]], source: str) -> dict[str, ConvBlock]:
    """Copy Keras layers into `net`: per layer type, the file's layers sorted by their creation index go to
    the slots in the order Musika's code creates them (robust to the graph order Keras saved them in).
    Returns which block took which Keras layer."""
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for name in layers:
        kind, index = _layer_kind(name)
        by_kind.setdefault(kind, []).append((index, name))
    slots = net.keras_slots()
    if set(by_kind) != set(slots) or any(len(by_kind[k]) != len(v) for k, v in slots.items()):
        found = {k: len(v) for k, v in sorted(by_kind.items())}
        wanted = {k: len(v) for k, v in sorted(slots.items())}
        raise M2L2Error(
            f"Keras layers {found} do not match Musika's {type(net).__name__} {wanted} ({source}): use the "
            "right file, enc.h5 / enc2.h5 / dec.h5 / dec2.h5 of marcop/musika_ae"
        )
    placed: dict[str, ConvBlock] = {}
    with torch.no_grad():
        for kind, targets in slots.items():
            for (_, name), block in zip(sorted(by_kind[kind]), targets, strict=True):
                _assign(block, kind, layers[name], f"{source}:{name}")
                placed[name] = block
    return placed


def _assign(block: ConvBlock, kind: str, arrays: list[np.ndarray], where: str) -> None:
    if kind == "add_noise":
        dst_list: list[tuple[torch.Tensor, np.ndarray]] = [(block.noise_weight, arrays[0].reshape(1))]
    else:
        if len(arrays) != 2:
            raise M2L2Error(
                f"expected a kernel and a bias, found {len(arrays)} arrays ({where}): {_WRONG_FILE}"
            )
        kernel, bias = arrays
        if kernel.ndim != 4 or kernel.shape[0] != 1:
            raise M2L2Error(
                f"expected a Keras Conv2D kernel [1, k, ., .], got {kernel.shape} ({where}): {_WRONG_FILE}"
            )
        # Keras Conv2D kernel [1, k, in, out] -> torch [out, in, k]; Conv2DTranspose [1, k, out, in] -> [in, out, k]
        dst_list = [(block.conv.weight, np.transpose(kernel[0], (2, 1, 0))), (block.conv.bias, bias)]
    for dst, src in dst_list:
        if dst is None or tuple(dst.shape) != tuple(src.shape):
            got = None if dst is None else tuple(dst.shape)
            raise M2L2Error(
                f"shape {tuple(src.shape)} does not fit this layer's {got} ({where}): {_WRONG_FILE}"
            )
        dst.copy_(torch.from_numpy(np.ascontiguousarray(src, dtype=np.float32)))


def weights_folder() -> Path:
    return weights_dir() / Path(WEIGHTS["enc"].filename).parent


def missing_message(missing: list[str], folder: Path) -> str:
    urls = ", ".join(f"{HUB}/resolve/main/{p}.h5" for p in missing)
    return (f"musika weights missing: {', '.join(p + '.h5' for p in missing)} ({folder}): download them "
            f"from {urls} (the hub repo marcop/musika_ae; or `m2l2 weights fetch musika-enc` etc. on a machine "
            f"with internet) and place them in {folder}, or pass weights_dir=FOLDER holding all four files")
