"""Adapters on maintained libraries (transformers DAC/EnCodec, diffusers Oobleck/SAME, codicodec), on the
libraries' real architectures built from their own config classes with random weights, shrunk where the
config allows: the contract every adapter owes the benchmark (any rate and channel count in, the input's
length out, the documented latent layout measured from real latents, seeded determinism, one-line errors)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import baselines
from baselines.harness import reconstruct
from m2l2.errors import M2L2Error


def require(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as e:
        pytest.skip(f"{module} not importable here ({type(e).__name__}: {e}); pip install 'm2l2[hub-baselines]'")


def noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, n))).astype(np.float32)


SMALL = {
    "dac": {"encoder_hidden_size": 4, "decoder_hidden_size": 16, "n_codebooks": 3, "codebook_size": 64,
                  "codebook_dim": 4},
    "encodec": {"num_filters": 4, "hidden_size": 16, "num_lstm_layers": 1, "codebook_size": 64},
    "stable-audio-vae": {"encoder_hidden_size": 16, "downsampling_ratios": [2, 4, 4, 8, 8],
                         "channel_multiples": [1, 2, 2, 2, 2], "decoder_channels": 16, "decoder_input_channels": 8},
    "same": {"patch_size": 16, "encoder_channels": 16, "encoder_c_mults": [2], "encoder_strides": [4],
             "encoder_transformer_depths": [1], "latent_dim": 8, "dim_heads": 8},
}


def build(name: str, **options):
    """A registry adapter with random weights on the shrunk architecture of its library."""
    key = next((k for k in ("encodec", "same", "dac") if name.startswith(k)), name)
    return baselines.get(name, random_init=True, config=SMALL[key], **options)


# --- what `m2l2 baselines list` prints, against closed forms of the published architectures -----------


@pytest.mark.parametrize("name, module, ratio", [
    ("dac-44khz", "transformers", 16 * 512 / 90),  # 9 codebooks x 10 bit per 512 samples
    ("dac-44khz-quantized", "transformers", 16 * 512 / (1024 * 16)),  # 1024-d z per 512 samples
    ("encodec-24khz", "transformers", 384 / 6),  # 6 kbit/s of 384 kbit/s PCM
    ("encodec-48khz", "transformers", 1536 / (24 * 48000 / 47520 + 16 * 48000 / 47520 / 1000)),  # 1 % overlap
    ("stable-audio-vae", "diffusers", 2 * 2048 / 64),
    ("same-s", "diffusers", 2 * 4096 / 256),
    ("same-l", "diffusers", 2 * 4096 / 256),
    ("codicodec", "codicodec", 2 * 32768 / 512),
    ("codicodec-discrete", "codicodec", 2 * 32768 * 16 / (128 * math.log2(11**4))),
])
def test_listed_layout_matches_the_published_architecture(name, module, ratio):
    require(module)
    from baselines.status import inspect_spec

    spec = baselines.specs()[name]
    info = inspect_spec(spec)
    assert info.licence and info.latent.endswith("x"), info
    layout, sr, channels = spec.load_target().describe(**spec.args)
    assert layout.ratio(sr, channels) == pytest.approx(ratio, rel=1e-6)
    assert f"{ratio:.4g}x" in info.latent


# --- the contract, per adapter ------------------------------------------------------------------------

CASES = [
    ("dac-44khz", "transformers", {}),
    ("dac-44khz-quantized", "transformers", {}),
    ("encodec-24khz", "transformers", {}),
    ("encodec-48khz", "transformers", {}),
    ("encodec-48khz-continuous", "transformers", {}),
    ("stable-audio-vae", "diffusers", {"seed": 3}),
    ("same-s", "diffusers", {}),
]


def formula(ae):
    """The layout the adapter's module computes from the library config the model was built with."""
    mod = importlib.import_module(type(ae).__module__)
    if ae.name.startswith("dac"):
        return mod.layout_for(ae.model.config.to_dict(), ae.latent, ae.n_quantizers)
    if ae.name.startswith("encodec"):
        return mod.layout_for(ae.model.config, ae.latent, ae.bandwidth)
    return mod.layout_for(dict(ae.model.config))


@pytest.mark.parametrize("name, module, options", CASES)
def test_measured_latent_layout_equals_the_config_formula(name, module, options):
    require(module)
    ae = build(name, **options)
    expected = formula(ae)
    assert ae.latent_rate == pytest.approx(expected.frame_rate)
    assert ae.latent_dim == pytest.approx(expected.values_per_frame)
    assert ae.bits_per_value == pytest.approx(expected.bits_per_value)
    assert ae.compression_ratio == pytest.approx(expected.ratio(ae.sample_rate, ae.channels))
    assert not ae.pretrained and ae.info()["latent_shape"] == ae.layout.shape


@pytest.mark.parametrize("name, module, options", CASES)
@pytest.mark.parametrize("sr, channels, n", [(44100, 1, 30001), (32000, 2, 20000)])
def test_any_rate_and_channel_count_give_the_input_shape_back(name, module, options, sr, channels, n):
    require(module)
    ae = build(name, **options)
    x = noise(channels, n)
    y = reconstruct(ae, x, sr)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    native = noise(ae.channels, 12345)
    assert ae.decode(ae.encode(native), length=12345).shape == (ae.channels, 12345)


@pytest.mark.parametrize("name, module, options", CASES)
def test_seeded_runs_repeat_and_wrong_latents_are_refused(name, module, options):
    require(module)
    ae = build(name, **options)
    x = noise(ae.channels, 9000, seed=1)
    assert np.array_equal(reconstruct(ae, x, ae.sample_rate), reconstruct(ae, x, ae.sample_rate))
    with pytest.raises(M2L2Error, match=ae.name.split("-")[0]):
        ae.decode(np.zeros((3, 5, 7), np.float32))
    with pytest.raises(M2L2Error, match="encode takes"):
        ae.encode(noise(3, 100))


def test_dac_codes_are_integer_rvq_indices_and_their_range_is_checked():
    require("transformers")
    ae = build("dac-44khz", n_quantizers=2)
    codes = ae.encode(noise(1, 4096))
    assert codes.shape == (2, 8) and not codes.is_floating_point() and int(codes.max()) < 64
    assert ae.compression_ratio == pytest.approx(16 * 512 / (2 * math.log2(64)))
    with pytest.raises(M2L2Error, match=r"codes in \[0, 64\)"):
        ae.decode(codes + 64)
    with pytest.raises(M2L2Error, match="n_quantizers"):
        build("dac-44khz", n_quantizers=4)


def test_encodec_bandwidth_sets_the_number_of_codebooks():
    require("transformers")
    low, high = build("encodec-24khz", bandwidth=1.5), build("encodec-24khz", bandwidth=12.0)
    # 13 bits/frame... codebook_size 64 → 6 bits: n_q = floor(bw * 1000 / (75 * 6))
    assert low.latent_dim == 1500 // 450 and high.latent_dim == 12000 // 450
    assert low.compression_ratio > high.compression_ratio
    with pytest.raises(M2L2Error, match="bandwidth 5 kbit/s is not one of"):
        build("encodec-24khz", bandwidth=5.0)


def test_stable_audio_vae_posterior_sampling_follows_the_seed():
    require("diffusers")
    import torch

    a, b = build("stable-audio-vae", seed=5), build("stable-audio-vae", seed=6)
    b.model.load_state_dict(a.model.state_dict())
    x = noise(2, 4096)
    assert torch.equal(a.encode(x), a.encode(x)) and not torch.equal(a.encode(x), b.encode(x))
    mode = build("stable-audio-vae", sample_posterior=False)
    mode.model.load_state_dict(a.model.state_dict())
    assert not mode.stochastic and torch.equal(mode.encode(x), mode.encode(x))


def test_same_is_deterministic_and_sizes_are_checked():
    require("diffusers")
    import torch

    ae = build("same-s")
    x = noise(2, 5000)
    assert torch.equal(ae.encode(x), ae.encode(x)) and not ae.stochastic
    assert ae.encode(x).shape == (8, math.ceil(5000 / 64))
    with pytest.raises(M2L2Error, match="unknown SAME size"):
        baselines.get("same-s", size="xl")


# --- CoDiCodec (module-level hparams: shrunk by patching the package's model module in the test) ----------

SMALL_CODI = {"dim": 64, "heads": 2, "num_layers": 1, "num_layers_encoder": 1, "cond_channels": 64,
              "frontend_base_channels": 8, "frontend_multipliers_list": [1, 1, 2, 8],
              "frontend_layers_list": [1, 1, 1, 1], "frontend_encoder_layers_list": [1, 1, 1, 1]}


@pytest.fixture
def small_codicodec(monkeypatch):
    """CoDiCodec's real UNet with fewer channels and layers (latent layout unchanged), float32 on CPU."""
    require("codicodec")
    from baselines.adapters.codicodec import import_codicodec

    _, _, models, utils = import_codicodec()
    for key, value in SMALL_CODI.items():
        monkeypatch.setattr(models, key, value)
    monkeypatch.setattr(utils, "mixed_precision", False)

    def make(**options):
        import torch

        torch.manual_seed(0)
        return baselines.get("codicodec", random_init=True, steps=1, **options)

    return make


def test_codicodec_continuous_parallel_contract(small_codicodec):
    from baselines.adapters.codicodec import import_codicodec, layout_for

    ae = small_codicodec(seed=2)
    hp = import_codicodec()[0]
    assert ae.latent_rate == pytest.approx(layout_for(hp, "continuous").frame_rate)
    assert ae.compression_ratio == pytest.approx(128.0)
    x = noise(1, 20000)  # mono at 44.1 kHz: the harness resamples to 48 kHz stereo and back
    y = reconstruct(ae, x, 44100)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.array_equal(y, reconstruct(ae, x, 44100))  # seeded
    info = ae.info()
    assert info["mode"] == "parallel" and info["time_prompt"] == pytest.approx(0.4)
    # σ_cond of the package's schedule at t = 0.4 (EDM/Karras with σ_min 0.002, σ_max 80, ρ 7)
    assert info["sigma_cond"] == pytest.approx((0.002 ** (1 / 7) + 0.4 * (80 ** (1 / 7) - 0.002 ** (1 / 7))) ** 7)
    with pytest.raises(M2L2Error, match=r"float latents \[T, 8, 64\]"):
        ae.decode(np.zeros((2, 4, 64), np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("latent, mode", [("discrete", "parallel"), ("continuous", "autoregressive"),
                                          ("discrete", "autoregressive")])
def test_codicodec_other_latents_and_modes(small_codicodec, latent, mode):
    ae = small_codicodec(latent=latent, mode=mode, time_prompt=0.2, seed=1)
    x = noise(2, 40000)
    lat = ae.encode(x)
    assert lat.shape[0] == 2 and (lat.is_floating_point() == (latent == "continuous"))
    y = ae.decode(lat, length=40000)
    assert y.shape == (2, 40000) and np.array_equal(y, ae.decode(lat, length=40000))
    assert ae.info()["time_prompt"] == 0.2 and ae.info()["sigma_cond"] < 0.97
    if latent == "discrete":
        assert ae.compression_ratio == pytest.approx(2 * 32768 * 16 / (128 * math.log2(11**4)))
        with pytest.raises(M2L2Error, match="FSQ indices"):
            ae.decode(lat + 20000)


def test_codicodec_rejects_bad_options(small_codicodec):
    with pytest.raises(M2L2Error, match="time_prompt"):
        small_codicodec(time_prompt=1.5)
    with pytest.raises(M2L2Error, match="mode"):
        small_codicodec(mode="sideways")
