"""Embedder preprocessing (VGGish framing/log-mel, CLAP windowing) with random networks; registry; missing weights."""

import numpy as np
import pytest
import torch

from benchmarks.embedders import (
    Embedder,
    WeightsMissingError,
    available_embedders,
    get_embedder,
)
from benchmarks.embedders.clap import WINDOW, CLAPEmbedder, clap_windows, quantise_int16, repeat_pad
from benchmarks.embedders.vggish import (
    MEL_BANDS,
    SAMPLE_RATE,
    VGGishEmbedder,
    VGGishNet,
    hz_to_mel,
    log_mel,
    mel_matrix,
    vggish_examples,
)
from m2l2.errors import M2L2Error
from m2l2.weights import WEIGHTS

# Layout of the published torchvggish state dict (vggish-10086976.pth).
TORCHVGGISH_SHAPES = {
    "features.0.weight": (64, 1, 3, 3),
    "features.3.weight": (128, 64, 3, 3),
    "features.6.weight": (256, 128, 3, 3),
    "features.8.weight": (256, 256, 3, 3),
    "features.11.weight": (512, 256, 3, 3),
    "features.13.weight": (512, 512, 3, 3),
    "embeddings.0.weight": (4096, 12288),
    "embeddings.2.weight": (4096, 4096),
    "embeddings.4.weight": (128, 4096),
}


@pytest.fixture
def empty_weights_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("M2L2_WEIGHTS_DIR", str(tmp_path / "weights"))
    return tmp_path / "weights"


def _random_vggish(seed=0):
    torch.manual_seed(seed)
    return VGGishEmbedder(net=VGGishNet(), weights_tag=f"random-init-{seed}")


def test_vggish_state_dict_matches_published_layout():
    state = VGGishNet().state_dict()
    weights = {k: tuple(v.shape) for k, v in state.items() if k.endswith("weight")}
    assert weights == TORCHVGGISH_SHAPES
    assert {k.replace(".bias", ".weight") for k in state if k.endswith("bias")} == set(TORCHVGGISH_SHAPES)


def test_vggish_framing_counts():
    assert vggish_examples(np.zeros(10 * SAMPLE_RATE)).shape == (10, 96, 64)
    assert vggish_examples(np.zeros(2 * SAMPLE_RATE)).shape == (2, 96, 64)
    assert vggish_examples(np.zeros(SAMPLE_RATE // 2)).shape == (1, 96, 64)  # padded to one patch
    assert log_mel(np.zeros(16000)).shape == (1 + (16000 - 400) // 160, MEL_BANDS)
    assert np.allclose(vggish_examples(np.zeros(16000)), np.log(0.01))


def test_vggish_mel_filterbank():
    m = mel_matrix()
    assert m.shape == (257, 64)
    assert np.all(m[0] == 0) and np.all(m >= 0)
    freqs = np.linspace(0, 8000, 257)
    assert np.all(m[freqs < 125 - 1e-9].sum(axis=1) == 0) and np.all(m[freqs > 7500].sum(axis=1) == 0)
    centres = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)[1:-1]
    peak_mel = hz_to_mel(freqs[m.argmax(axis=0)])
    assert np.all(np.abs(peak_mel - centres) < hz_to_mel(8000.0) / 256 * 2)


def test_vggish_log_mel_locates_a_tone():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    spec = log_mel(0.5 * np.sin(2 * np.pi * 1000.0 * t))
    band = int(spec.mean(axis=0).argmax())
    centres_hz = 700 * (np.exp(np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)[1:-1] / 1127) - 1)
    assert abs(centres_hz[band] - 1000.0) < 60


def test_vggish_embedder_random_weights():
    emb = _random_vggish()
    assert isinstance(emb, Embedder)
    x = np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE).astype(np.float32) * 0.1
    out = emb.embed(x)
    assert out.shape == (3, 128) and out.dtype == np.float32
    assert np.array_equal(out, emb.embed(x))
    assert (out < 0).any()  # no final ReLU
    assert "random-init-0" in emb.identity() and "no-pca" in emb.identity()


def test_vggish_loads_weights_file_and_tags_identity(tmp_path):
    torch.manual_seed(1)
    net = VGGishNet()
    path = tmp_path / "vggish-10086976.pth"
    torch.save(net.state_dict(), path)
    emb = VGGishEmbedder(weights_path=path)
    x = np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32)
    reference = VGGishEmbedder(net=net, weights_tag="same").embed(x)
    assert np.allclose(emb.embed(x), reference, atol=1e-5)
    assert "vggish-10086976.pth:sha256=" in emb.identity()
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(M2L2Error, match="torchvggish"):
        VGGishEmbedder(weights_path=bad)


def test_missing_weights_name_file_url_and_place(empty_weights_dir):
    with pytest.raises(WeightsMissingError) as info:
        get_embedder("fad-vggish")
    message = str(info.value)
    assert info.value.filename == "vggish-10086976.pth"
    assert "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth" in message
    assert str(empty_weights_dir) in message and "M2L2_WEIGHTS_DIR" in message
    with pytest.raises(WeightsMissingError) as info:
        get_embedder("fad-clap")
    assert info.value.filename == "music_audioset_epoch_15_esc_90.14.pt"
    assert "huggingface.co/lukewys/laion_clap" in str(info.value)
    with pytest.raises(WeightsMissingError) as info:
        get_embedder("fad-clap", checkpoint="audioset")
    assert info.value.filename == "630k-audioset-best.pt"


def test_registry():
    assert set(available_embedders()) >= {"fad-vggish", "fad-clap", "fad-musicnn"}
    assert WEIGHTS["vggish"].sha256 == "10086976"
    assert WEIGHTS["clap-laion-music"].url.endswith("/resolve/main/music_audioset_epoch_15_esc_90.14.pt")
    with pytest.raises(M2L2Error, match="unknown FAD metric"):
        get_embedder("fad-nope")
    with pytest.raises(M2L2Error, match="unknown CLAP checkpoint"):
        CLAPEmbedder(checkpoint="speech", model=lambda w: w[:, :4], weights_tag="x")


def test_musicnn_builds_or_fails_with_a_user_error():
    try:
        emb = get_embedder("fad-musicnn")
    except M2L2Error as e:
        assert str(e)
    else:
        assert isinstance(emb, Embedder) and emb.name


def test_clap_windowing_is_deterministic():
    short = np.arange(1, 3 * 48000 + 1, dtype=np.float32)
    w = clap_windows(short)
    assert w.shape == (1, WINDOW)
    assert np.array_equal(w[0, : 3 * 48000], short) and np.array_equal(w[0, 6 * 48000 : 9 * 48000], short)
    assert np.all(w[0, 9 * 48000 :] == 0)  # laion-clap's repeatpad: whole repeats, then zeros
    exact = np.random.default_rng(0).standard_normal(WINDOW).astype(np.float32)
    assert np.array_equal(clap_windows(exact)[0], exact)
    long = np.arange(25 * 48000, dtype=np.float32)
    w = clap_windows(long)
    assert w.shape == (3, WINDOW)
    assert [int(r[0]) for r in w] == [0, 10 * 48000, 15 * 48000]  # last window aligned to the end
    assert [int(r[0]) for r in clap_windows(long, hop=5 * 48000)] == [0, 5 * 48000, 10 * 48000, 15 * 48000]
    assert np.array_equal(repeat_pad(np.array([1.0, 2.0]), 5), [1.0, 2.0, 1.0, 2.0, 0.0])


def test_clap_embedder_with_a_random_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 4800, stride=4800), torch.nn.Flatten(), torch.nn.LazyLinear(16)
    )
    seen = []

    def model(windows):
        seen.append(windows.shape)
        with torch.no_grad():
            return net(torch.from_numpy(windows)[:, None]).numpy()

    emb = CLAPEmbedder(model=model, weights_tag="random-init", batch_size=2)
    x = np.random.default_rng(0).uniform(-1.2, 1.2, 25 * 48000).astype(np.float32)
    out = emb.embed(x)
    assert out.shape == (3, 16)
    assert seen == [(2, WINDOW), (1, WINDOW)]
    assert np.array_equal(out, emb.embed(x))
    assert "HTSAT-base" in emb.identity() and "random-init" in emb.identity()
    q = quantise_int16(x[:10])
    assert np.all(np.abs(q) <= 1.0) and np.allclose(q, np.clip(x[:10], -1, 1), atol=1 / 32767)


def test_real_laion_clap_if_installed(tmp_path):
    pytest.importorskip("laion_clap", reason="laion-clap is an optional extra (needs numpy<2); not installed")
    from m2l2.weights import find_weights

    if find_weights("clap-laion-music") is None:
        pytest.skip("CLAP music checkpoint not in the weights directory")
    emb = get_embedder("fad-clap")
    out = emb.embed(np.zeros(48000 * 12, dtype=np.float32))
    assert out.shape == (2, 512)


def test_real_vggish_if_weights_present():
    from m2l2.weights import find_weights

    if find_weights("vggish") is None:
        pytest.skip("vggish-10086976.pth not in the weights directory")
    emb = get_embedder("fad-vggish")
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    out = emb.embed(np.sin(2 * np.pi * 440 * t).astype(np.float32))
    assert out.shape == (2, 128) and np.isfinite(out).all()
