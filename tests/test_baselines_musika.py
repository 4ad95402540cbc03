"""Musika adapter: the PyTorch port reproduces Keras on Keras-saved weights, shapes/rates/seeding, clear errors."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import baselines
from baselines.adapters import musika, musika_weights
from baselines.adapters.musika import MusikaAE, MusikaConfig
from baselines.registry import specs
from baselines.status import inspect_spec
from m2l2.errors import M2L2Error

REF = Path(__file__).parent / "fixtures" / "baselines" / "musika_ref"


def need_h5py() -> None:
    try:
        importlib.import_module("h5py")
    except ImportError as e:
        pytest.skip(f"h5py not importable here ({e}); install it with `pip install h5py>=3.8`")


def noise_blocks(ae: MusikaAE) -> list[musika.ConvBlock]:
    return [m for m in ae.nets.modules() if isinstance(m, musika.ConvBlock) and m.noise_weight is not None]


def test_port_reproduces_keras_on_keras_saved_weights():
    """The fixture was made by TensorFlow 2.15 / Keras 2 (musika_keras_reference.py): same graphs, random weights."""
    need_h5py()
    ref = np.load(REF / "reference.npz")
    cfg = MusikaConfig(hop=int(ref["hop"]), latdepth=int(ref["latdepth"]))
    ae = MusikaAE(weights_dir=REF, config=cfg)
    assert ae.pretrained and len(ae.provenance.sha256) == 64

    latent = ae.encode(ref["wave"][None])
    assert latent.shape == (1, cfg.latdepth, ref["latent"].shape[0])
    np.testing.assert_allclose(latent[0].T, ref["latent"], atol=1e-5)

    # noise scales were saved non-zero: each must sit on the block of the convolution it follows in Keras
    for part in musika.PARTS:
        placed = musika.load_keras_weights(musika.NETWORKS[part](cfg), musika.read_keras_h5(REF / f"{part}.h5"), part)
        keys = [k for k in ref.files if k.startswith(f"noise:{part}:")]
        assert len(keys) == len({id(b) for b in placed.values() if b.noise_weight is not None})
        for key in keys:
            assert placed[key.split(":")[2]].noise_weight.item() == pytest.approx(float(ref[key]))

    for block in noise_blocks(ae):  # the reference was computed without noise
        block.noise_weight.data.zero_()
    z = torch.from_numpy(ref["latent"].T.copy())
    groups = z.reshape(cfg.latdepth, -1, 4).permute(1, 0, 2)
    with torch.no_grad():
        mag, phase = ae.nets["dec"](ae.nets["dec2"](groups))
    np.testing.assert_allclose(mag.permute(0, 2, 1).reshape(-1, cfg.bins).numpy(), ref["mag"], atol=1e-5)
    np.testing.assert_allclose(phase.permute(0, 2, 1).reshape(-1, cfg.bins).numpy(), ref["phase"], atol=1e-5)
    recon = ae.decode(ref["latent"].T[None])
    assert recon.shape == (1, ref["recon"].shape[0])
    np.testing.assert_allclose(recon[0], ref["recon"], atol=1e-5 * np.abs(ref["recon"]).max())


def test_spectrogram_and_inverse_stft_invert_each_other():
    cfg = MusikaConfig()
    t = np.arange(20000) / cfg.sample_rate
    x = torch.from_numpy((0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32))
    norm_db = musika.spectrogram(x[None], cfg)
    window = torch.hann_window(cfg.n_fft, periodic=True)
    phase = torch.angle(torch.fft.rfft(x.unfold(-1, cfg.n_fft, cfg.hop) * window)).T[None] / np.pi
    assert norm_db.shape == (1, cfg.bins, 1 + (x.shape[0] - cfg.n_fft) // cfg.hop)
    y = musika.waveform(norm_db, phase, cfg)[0]
    inner = slice(cfg.n_fft, y.shape[0] - cfg.n_fft)  # both ends lack full window overlap
    np.testing.assert_allclose(y[inner].numpy(), x[inner].numpy(), atol=2e-3)


def test_random_weights_round_trip_shapes_and_rates():
    mono = MusikaAE(random_init=True)
    assert mono.latent_dim == 64 and mono.compression_ratio == pytest.approx(64.0)  # the paper's "64x, mono"
    channels = 2
    ae = MusikaAE(random_init=True, channels=channels)
    assert not ae.pretrained and ae.stochastic and ae.info()["pretrained"] is False
    assert ae.compression_ratio == pytest.approx(64.0) and ae.latent_rate == pytest.approx(44100 / 4096)
    assert ae.latent_dim == 64 * channels
    n = 20000
    x = np.random.default_rng(0).normal(0, 0.1, (channels, n)).astype(np.float32)
    z = ae.encode(x)
    assert z.shape == (channels, 64, 8) and np.all(np.abs(z) <= 1)  # 768 + 32768 samples: one piece, 8 latents
    y = ae.decode(z)
    assert y.shape == (channels, 16 * 256 * 8 + 768) and y.dtype == np.float32 and np.all(np.abs(y) <= 1)
    assert ae.decode(z[..., :6], length=100).shape == (channels, 100)  # any latent length; trimmed on request


def test_decoding_is_seeded_and_runs_through_the_harness():
    ae = MusikaAE(random_init=True, config=MusikaConfig(hop=32, latdepth=16))
    assert ae.compression_ratio == pytest.approx(16 * 32 / 16)
    x = np.random.default_rng(1).normal(0, 0.1, (1, 9000)).astype(np.float32)
    z = ae.encode(x)
    assert z.shape == (1, 16, 24)  # 96 + 3 * 4096 samples cover 9000: 3 pieces of 8 latents
    for block in noise_blocks(ae):
        block.noise_weight.data.fill_(0.5)
    y = ae.decode(z, length=9000)
    np.testing.assert_array_equal(ae.decode(z, length=9000), y)  # same seed, same output
    ae.seed = 1
    assert not np.array_equal(ae.decode(z, length=9000), y)
    assert ae.embed(x).shape == (16,)
    stereo = np.concatenate([x, 0.5 * x])
    assert baselines.reconstruct(ae, stereo, 22050).shape == stereo.shape


def test_missing_weights_name_files_source_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("M2L2_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(M2L2Error) as e:
        MusikaAE()
    msg = str(e.value)
    for part in musika.PARTS:
        assert f"{part}.h5" in msg and f"huggingface.co/marcop/musika_ae/resolve/main/{part}.h5" in msg
    assert str(tmp_path / "musika") in msg
    partial = tmp_path / "some"
    partial.mkdir()
    (partial / "enc.h5").write_bytes(b"")
    with pytest.raises(M2L2Error, match=r"enc2\.h5, dec\.h5, dec2\.h5 \(.*some\)"):
        MusikaAE(weights_dir=partial)


def test_baselines_list_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("M2L2_WEIGHTS_DIR", str(tmp_path))
    info = inspect_spec(specs()["musika"])
    assert not info.paper_only
    if info.packages["h5py"] != "ok":
        assert info.state == "no-package" and any("pip install h5py" in a for a in info.actions)
        return
    assert info.state == "no-weights"
    assert sum("huggingface.co/marcop/musika_ae" in a and str(tmp_path / "musika") in a for a in info.actions) == 4
    (tmp_path / "musika").mkdir()
    for part in musika.PARTS:
        (tmp_path / "musika" / f"{part}.h5").write_bytes(b"")
    assert inspect_spec(specs()["musika"]).state == "ready"


def test_loader_rejects_the_wrong_file_and_parses_keras_names(tmp_path):
    need_h5py()
    assert musika_weights._layer_kind("conv2d_transpose_12") == ("conv2d_transpose", 12)
    assert musika_weights._layer_kind("conv2d") == ("conv2d", 0) and musika_weights._layer_kind("cout") == ("cout", 0)
    swapped = tmp_path / "w"
    swapped.mkdir()
    for part in musika.PARTS:
        shutil.copy(REF / f"{'enc' if part == 'dec' else part}.h5", swapped / f"{part}.h5")
    ref = np.load(REF / "reference.npz")
    with pytest.raises(M2L2Error, match="do not match Musika's Decoder"):
        MusikaAE(weights_dir=swapped, config=MusikaConfig(hop=int(ref["hop"]), latdepth=int(ref["latdepth"])))
    with pytest.raises(M2L2Error, match="does not fit"):  # right layers, wrong widths
        MusikaAE(weights_dir=REF, config=MusikaConfig(hop=2 * int(ref["hop"]), latdepth=int(ref["latdepth"])))
