"""The model package: representation, constants, architecture properties, inference API."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers_m2l2 import micro

import m2l2
from m2l2 import edm, spectral
from m2l2.config import ModelConfig, load_config
from m2l2.errors import M2L2Error
from m2l2.model import chunk_causal_mask

# --- representation -----------------------------------------------------------------------------


def test_stft_constants_and_shapes():
    wave = torch.zeros(1, 1, 67_072)
    spec = spectral.to_spec(wave)
    # 67,072 samples → 128 frames (two 64-frame chunks), 1024 bins, real+imag channels.
    assert spec.shape == (1, 2, 1024, 128)
    assert spectral.frames_to_samples(128) == 67_072
    assert spectral.to_spec(torch.zeros(1, 2, 67_072)).shape == (1, 4, 1024, 128)


def test_amplitude_transform_matches_formula():
    c = torch.tensor([0.5 + 0.5j, -2.0 + 0.0j, 0.001j], dtype=torch.complex64)
    out = spectral.compress(c)
    expected = 0.34 * c.abs() ** 0.65 * torch.exp(1j * c.angle())
    assert torch.allclose(out, expected.to(out.dtype), rtol=1e-5, atol=1e-7)
    assert torch.allclose(spectral.decompress(out), c, rtol=1e-4, atol=1e-7)


def test_stft_round_trip_is_exact_for_band_limited_audio():
    rng = np.random.default_rng(0)
    n = 5 * 32_768 + 1234
    x = rng.standard_normal((2, n))
    spec = np.fft.rfft(x, axis=-1)
    spec[:, int(0.9 * spec.shape[-1]) :] = 0  # no energy at Nyquist: the dropped bin holds nothing
    x = torch.from_numpy(np.fft.irfft(spec, n=n, axis=-1) * 0.1).float()[None]
    padded, chunks = spectral.pad_for_chunks(x, 64)
    assert chunks == 6
    y = spectral.unpad(spectral.to_wave(spectral.to_spec(padded)), n)
    assert y.shape == x.shape
    err = (y - x).abs()
    # Exact to float32 precision wherever whole frames cover the signal; at the two ends the zero padding
    # makes an edge whose Nyquist content is lost with the dropped bin (a few 1e-5).
    assert err[..., 2048:-2048].max() < 1e-5
    assert err.max() < 1e-3


def test_overlap_add_normaliser_is_the_hann_sum_and_blockwise_exact():
    # Periodic Hann at 75 % overlap: Σ w² = 3/2 wherever four frames cover a sample (closed form); at the
    # ends fewer frames count. Block-by-block normalisation must give the whole-signal result exactly.
    n_frames = 21
    norm = spectral._window_square_sum(n_frames, torch.device("cpu"), torch.float64)
    assert torch.allclose(norm[2048:-2048], torch.full_like(norm[2048:-2048], 1.5), atol=1e-12)
    w2 = torch.hann_window(2048, periodic=True, dtype=torch.float64) ** 2
    assert torch.allclose(norm[:512], w2[:512], atol=1e-12)  # only frame 0 covers the first hop
    assert torch.equal(spectral._window_square_sum(n_frames, torch.device("cpu"), torch.float64, 700, 3000), norm[700:3000])
    spec = torch.randn(1, 2, 1024, n_frames)
    whole, blocks = spectral.StreamingOverlapAdd((1, 2), n_frames), spectral.StreamingOverlapAdd((1, 2), n_frames)
    whole.add(spec, 0)
    blocks.add(spec, 0)
    assert torch.equal(whole.finish(), blocks._release(spectral.frames_to_samples(n_frames), block=1000))


# --- EDM constants ------------------------------------------------------------------------------


def test_edm_boundary_condition_and_schedule():
    s = torch.tensor([edm.SIGMA_MIN])
    assert edm.c_skip(s).item() == 1.0 and edm.c_out(s).item() == 0.0
    assert math.isclose(edm.sigma_of_t(torch.tensor(0.0)).item(), 0.002, rel_tol=1e-5)
    assert math.isclose(edm.sigma_of_t(torch.tensor(1.0)).item(), 80.0, rel_tol=1e-5)
    assert math.isclose(edm.delta_t(0, 100), 0.1) and math.isclose(edm.delta_t(100, 100), 0.001)
    t = torch.rand(100)
    assert torch.allclose(edm.t_of_sigma(edm.sigma_of_t(t)), t, atol=1e-5)


def test_sigma_sampling_matches_weighted_grid():
    # Upstream draws t with probability ∝ N(log σ(t); P_mean, P_std) (a lognormal weight on a uniform t grid).
    t = edm.sample_t((20_000,), generator=torch.Generator().manual_seed(0)).double().numpy()
    grid = np.linspace(0, 1, 100_001)
    sig = (0.002 ** (1 / 7) + grid * (80 ** (1 / 7) - 0.002 ** (1 / 7))) ** 7
    pdf = np.exp(-0.5 * ((np.log(sig) + 1.1) / 2.0) ** 2)
    cdf = np.cumsum(pdf) / pdf.sum()
    empirical = np.searchsorted(np.sort(t), grid) / len(t)
    assert np.abs(empirical - cdf).max() < 0.02  # Kolmogorov–Smirnov distance


def test_pseudo_huber():
    x, y = torch.zeros(2, 100), torch.zeros(2, 100)
    y[1, 0] = 3.0
    c = 0.00054 * 10
    d = edm.pseudo_huber(x, y)
    assert d[0].item() == pytest.approx(0.0, abs=1e-9)
    assert d[1].item() == pytest.approx(math.sqrt(9 + c**2) - c, rel=1e-6)


# --- configurations -----------------------------------------------------------------------------


def test_compression_ratios():
    assert m2l2.build("tiny").compression_ratio == 64
    assert m2l2.build("tiny-ordered").compression_ratio == 64
    assert m2l2.build("tiny", ["model.channels=2"]).compression_ratio == 128
    paper = ModelConfig.from_dict(load_config("paper-stereo")["model"])
    assert paper.channels == 2 and paper.latent_shape == (8, 64)


def test_paper_parameter_count_near_100m():
    model = m2l2.build("paper")
    counts = model.parameter_counts()
    total = sum(counts.values())
    print("paper parameters per module:", counts, f"total {total / 1e6:.1f} M")
    assert abs(total - 100e6) / 100e6 < 0.15
    # the three modules are all there and the consistency model is the largest
    assert counts["consistency"] > counts["encoder"] > 0 and counts["decoder"] > 0


def test_ablation_configs_differ_only_in_latent_kind():
    a = load_config("ablation")["model"]
    b = load_config("ablation-ordered")["model"]
    assert a["level_blocks"] == [2, 2, 2, 2, 2, 1]
    assert {k for k in a if a[k] != b.get(k)} == {"latent_kind"}


def test_yaml_overrides_and_errors(tmp_path):
    cfg = load_config("tiny", ["model.dim=64", "train.lr=0.001"])
    assert cfg["model"]["dim"] == 64 and cfg["train"]["lr"] == 0.001
    f = tmp_path / "mine.yaml"
    f.write_text("base: tiny\nmodel:\n  latent_kind: ordered\n")
    assert load_config(f)["model"]["latent_kind"] == "ordered"
    with pytest.raises(M2L2Error, match="unknown configuration"):
        load_config("nope")
    with pytest.raises(M2L2Error, match="unknown model config keys"):
        ModelConfig.from_dict({"dimension": 3})
    with pytest.raises(M2L2Error, match="section.key=value"):
        load_config("tiny", ["model.dim"])


# --- architecture properties --------------------------------------------------------------------


def _chunks(model, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, n, 2 * model.channels, 1024, model.config.chunk_frames, generator=g)


def _cross(model, n: int) -> list[torch.Tensor]:
    lat = torch.tanh(torch.randn(n, *model.config.latent_shape, generator=torch.Generator().manual_seed(1)))
    return model.decoder(lat)


@torch.no_grad()
def test_boundary_condition_identity_at_sigma_min():
    model = micro()
    x = _chunks(model, 2)
    out = model.consistency(x, torch.full((1, 2), edm.SIGMA_MIN), _cross(model, 2))
    assert torch.equal(out, x)


@torch.no_grad()
def test_chunked_causal_attention():
    model = micro()
    # make the attention matter: random (non-zero) AdaLN modulation
    for p in model.consistency.transformer.parameters():
        p.add_(torch.randn_like(p) * 0.05)
    for p in model.consistency.head.parameters():
        p.add_(torch.randn_like(p) * 0.5)  # the output conv starts at zero (upstream)
    x, cross, sigma = _chunks(model, 2), _cross(model, 2), torch.tensor([[1.0, 5.0]])
    base = model.consistency(x, sigma, cross)
    right_changed = x.clone()
    right_changed[:, 1] += torch.randn_like(right_changed[:, 1])
    out = model.consistency(right_changed, sigma, cross)
    assert torch.allclose(out[:, 0], base[:, 0], atol=1e-6)  # the left chunk does not see the right one
    left_changed = x.clone()
    left_changed[:, 0] += torch.randn_like(left_changed[:, 0])
    out = model.consistency(left_changed, sigma, cross)
    assert not torch.allclose(out[:, 1], base[:, 1], atol=1e-4)  # the right chunk sees the left one
    # a single chunk alone gives the same output as the left chunk of a pair
    alone = model.consistency(x[:, :1], sigma[:, :1], [c[:1] for c in cross])
    assert torch.allclose(alone[:, 0], base[:, 0], atol=1e-5)


@torch.no_grad()
def test_fresh_consistency_model_is_the_skip_connection():
    """Upstream zero-initialises the output convolution and the σ projections: at step 0, f(x, σ) = c_skip(σ)·x."""
    model = micro()
    x, cross = _chunks(model, 2), _cross(model, 2)
    sigma = torch.tensor([[0.3, 20.0]])
    out = model.consistency(x, sigma, cross)
    expected = edm.c_skip(sigma)[..., None, None, None] * x
    assert torch.allclose(out, expected, atol=1e-6)
    blocks = [b for level in model.consistency.patchifier.levels for b in level]
    assert blocks and all(not b.cond.weight.any() for b in blocks)


@torch.no_grad()
def test_noise_embedding_is_smooth_in_sigma():
    """Student σ(t) and teacher σ(t − 0.001) must get nearly the same conditioning (a ×1000 factor on
    log σ/4, as an earlier version had, changed the sinusoids by 40–60 % between them)."""
    from m2l2.layers import NoiseEmbedding

    t = torch.tensor([0.2, 0.5, 0.9])
    s_hi, s_lo = edm.sigma_of_t(t), edm.sigma_of_t(t - 0.001)
    emb = NoiseEmbedding(256, 256)
    sinusoids = {}
    emb.mlp.register_forward_hook(lambda m, inp, out: sinusoids.setdefault(len(sinusoids), inp[0]))
    emb(s_hi), emb(s_lo)
    change = (sinusoids[0] - sinusoids[1]).norm(dim=1) / sinusoids[0].norm(dim=1)
    assert change.max() < 0.01


def test_group_norm_keeps_four_channels_per_group():
    from m2l2.config import ModelConfig

    cfg = ModelConfig()
    assert [cfg.groups_for(c) for c in (8, 64, 128, 256)] == [2, 16, 32, 32]  # upstream: min(C // 4, 32)


def test_chunk_causal_mask_layout():
    m = chunk_causal_mask(2, 3, torch.device("cpu"))
    assert m[:3, :3].all() and not m[:3, 3:].any() and m[3:, :].all()


@torch.no_grad()
@pytest.mark.parametrize("kind", ["tiny", "tiny-ordered"])
def test_encoder_chunks_are_independent(kind):
    model = micro(kind)
    x = torch.randn(1, 1, 3 * model.chunk_samples) * 0.1
    base = model.encode(x)
    assert base.shape == (1, 3, *model.config.latent_shape)
    assert base.abs().max() < 1  # tanh bound
    y = x.clone()
    y[..., -model.chunk_samples // 2 :] += 0.3  # change only the last chunk's audio
    out = model.encode(y)
    assert torch.allclose(out[:, 0], base[:, 0], atol=1e-6)
    assert not torch.allclose(out[:, 2], base[:, 2], atol=1e-4)


@torch.no_grad()
def test_encode_input_shapes_and_batching():
    model = micro()
    x = torch.randn(2, 1, 40_000) * 0.1
    batched = model.encode(x, max_batch=1)
    assert torch.allclose(batched, model.encode(x, max_batch=32), atol=1e-6)
    assert model.encode(x[0, 0].numpy()).shape == (1, 2, 8, 64)  # [N] NumPy input
    assert model.encode(x[0]).shape == (1, 2, 8, 64)  # [C, N]
    stereo = torch.randn(2, 40_000) * 0.1  # down-mixed for a mono model
    assert torch.allclose(model.encode(stereo), model.encode(stereo.mean(0, keepdim=True)), atol=1e-6)
    # other sample rates are resampled to 44.1 kHz: one second at 16 kHz is one second at 44.1 kHz
    assert model.encode(np.zeros(16_000, np.float32), sample_rate=16_000).shape[1] == 2
    with pytest.raises(M2L2Error, match="shape"):
        model.encode(torch.zeros(1, 1, 1, 10))
    with pytest.raises(M2L2Error, match="empty"):
        model.encode(torch.zeros(0))


@torch.no_grad()
def test_decode_length_and_determinism():
    model = micro()
    seconds = 30
    x = torch.randn(1, 1, seconds * 44_100) * 0.1
    lat = model.encode(x)
    y = model.decode(lat, length=x.shape[-1], generator=torch.Generator().manual_seed(0))
    assert y.shape == (1, 1, seconds * 44_100)
    assert torch.isfinite(y).all() and y.abs().max() <= 1
    again = model.decode(lat[:, :3], generator=torch.Generator().manual_seed(0))
    assert again.shape == (1, 1, 3 * model.chunk_samples)
    assert torch.equal(again, model.decode(lat[:, :3], generator=torch.Generator().manual_seed(0)))
    with pytest.raises(M2L2Error, match="latents must have shape"):
        model.decode(torch.zeros(1, 2, 3, 4))


@torch.no_grad()
def test_two_step_decoding_rewrites_previous_chunk():
    model = micro()
    lat = model.encode(torch.randn(1, 1, 2 * model.chunk_samples) * 0.1)

    def run(**kw):
        return model.decode(lat, generator=torch.Generator().manual_seed(0), **kw)

    one_step = run(redecode_previous=False)
    two_step = run(redecode_previous=True)
    # the first chunk differs (re-decoded); σ_cond at σ_min leaves it unchanged (c_skip = 1, c_out = 0)
    half = model.chunk_samples // 2
    assert not torch.allclose(one_step[..., :half], two_step[..., :half])
    assert torch.allclose(run(sigma_cond=0.0)[..., :half], one_step[..., :half], atol=1e-5)


@torch.no_grad()
def test_embed_shape():
    model = micro()
    e = model.embed(torch.randn(2, 1, 50_000) * 0.1)
    assert e.shape == (2, 8 * 32)
    # ordered: every token of the chunk (4 time steps × 16 frequency tokens × width 32)
    assert micro("tiny-ordered").embed(torch.randn(1, 1, 50_000)).shape == (1, 4 * 16 * 32)


def test_training_loss_runs_and_backpropagates():
    from m2l2.consistency import training_loss

    model = micro().train()
    audio = torch.randn(2, 1, model.train_samples) * 0.1
    loss, stats = training_loss(model, audio, step=0, total_steps=10, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)  # the encoder learns through the loss
    assert 0 <= stats["tanh_saturated"] <= 1


def test_delta_t_schedule_upstream_and_denoising_start():
    # Upstream Δt_k = 0.1^{(k/K)(3 − 1) + 1}, written out at a few k.
    for k in (0, 250, 500, 1000):
        assert math.isclose(edm.delta_t(k, 1000), 0.1 ** (k / 1000 * 2 + 1), rel_tol=1e-12)
    assert math.isclose(edm.delta_t(0, 100, (1.0, 0.001)), 1.0)
    assert math.isclose(edm.delta_t(50, 100, (1.0, 0.001)), math.sqrt(0.001), rel_tol=1e-12)
    assert math.isclose(edm.delta_t(100, 100, (1.0, 0.001)), 0.001, rel_tol=1e-12)


def test_delta_t_start_of_one_is_denoising_against_the_clean_input():
    # With Δt = 1 every t − Δt clamps to 0, where the boundary condition makes the teacher f(x + σ_min·z, σ_min)
    # = x + σ_min·z exactly: the loss is the pseudo-Huber distance of the student to the (almost) clean
    # spectrogram, weighted by 1/(σ − σ_min).
    from m2l2 import spectral
    from m2l2.consistency import Objective, split_chunks, training_loss

    torch.manual_seed(0)
    model = micro().eval()
    audio = torch.randn(2, 1, model.train_samples) * 0.1
    with torch.no_grad():
        loss, stats = training_loss(
            model,
            audio,
            step=0,
            total_steps=10,
            generator=torch.Generator().manual_seed(3),
            objective=Objective(delta_t_range=(1.0, 0.001)),
            magnitude_weight=0.0,
        )
        g = torch.Generator().manual_seed(3)
        x = split_chunks(spectral.to_spec(audio), model.config.chunk_frames)
        t = edm.sample_t((2, 2), generator=g)
        noise = torch.randn(x.shape, generator=g)
        sigma = edm.sigma_of_t(t)
        student = model.consistency(x + sigma.view(2, 2, 1, 1, 1) * noise, sigma, model.decoder(model.encoder(x.flatten(0, 1))))
        target = x + edm.SIGMA_MIN * noise
        dist = edm.pseudo_huber(student.flatten(0, 1), target.flatten(0, 1)).view(2, 2)
        expected = (dist / (sigma - edm.SIGMA_MIN)).mean()
    assert stats["delta_t"] == 1.0
    assert torch.allclose(loss, expected, rtol=1e-4)


def test_teacher_replays_the_students_dropout_masks():
    # iCT: student and teacher share every random draw but the noise level. With dropout > 0 and σ_lo = σ_hi
    # the two evaluations are the same function of the same input, so their distance is exactly 0 (the
    # teacher drew masks of its own before, a distance of the order of the output).
    from m2l2.consistency import consistency_distance

    net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Dropout(0.5), torch.nn.Linear(64, 8)).train()
    fn = lambda x, s: net(x) * s[:, None]  # noqa: E731
    x, noise, sigma = torch.randn(4, 8), torch.randn(4, 8), torch.full((4,), 2.0)
    _, dist, _ = consistency_distance(fn, fn, x, sigma, sigma, noise)
    assert torch.all(dist == 0)
    with torch.no_grad():
        assert not torch.equal(fn(x, sigma), fn(x, sigma))  # the masks do differ between two calls


def test_t_max_fraction_is_refused_where_its_teacher_is_not_the_data():
    # A σ_max draw with Δt < 1 has the network at σ(1 − Δt) ≈ 77 as its teacher, a level that is itself almost
    # never trained: the ungrounded link that diverged. It stays legal for plain denoising (Δt = 1).
    from m2l2.consistency import Objective
    from m2l2.errors import M2L2Error
    from m2l2.training.config import TrainConfig

    with pytest.raises(M2L2Error, match=r"t_max_fraction.*train\.t_max_fraction=0"):
        TrainConfig.from_dict({"t_max_fraction": 0.5, "delta_t_start": 0.05, "delta_t_end": 0.005})
    with pytest.raises(M2L2Error, match="t_max_fraction"):
        TrainConfig.from_dict({"t_max_fraction": 0.5, "delta_t_start": 1.0, "delta_t_end": 1.0,
                               "delta_schedule": "ect"})
    with pytest.raises(ValueError, match="teacher"):
        Objective(delta_t_range=(1.0, 0.5), t_max_fraction=0.1)
    assert TrainConfig.from_dict({"t_max_fraction": 0.5, "delta_t_start": 1.0, "delta_t_end": 1.0}).t_max_fraction == 0.5


def test_anchor_options_are_retired_with_an_error_unless_inert():
    from m2l2.errors import M2L2Error
    from m2l2.training.config import TrainConfig

    for key, value in (("anchor_fraction", 0.5), ("anchor_only_latents", True)):
        with pytest.raises(M2L2Error, match=f"train.{key} was removed"):
            TrainConfig.from_dict({key: value})
    # run folders written before record them at their inert values: those still load
    assert TrainConfig.from_dict({"anchor_fraction": 0.0, "anchor_only_latents": False}).batch_size == 16


def test_ect_teacher_follows_the_relative_step_and_shrinks_per_stage():
    sigma = torch.tensor([0.01, 1.0, 80.0])
    for stage in range(3):
        got = edm.ect_teacher_sigma(sigma, step=stage * 100, total_steps=300, q=4.0, stages=3)
        want = sigma * (1 - (1 + 8 * torch.sigmoid(-sigma)) / 4.0 ** (stage + 1))
        assert torch.allclose(got, want.clamp_min(0.0))
    assert edm.ect_teacher_sigma(torch.tensor([0.01]), 0, 300, 4.0, 3).item() == 0.0  # 1 − 9/4·… < 0: the data


def test_detach_cross_leaves_the_encoder_to_the_magnitude_head():
    # With detach_cross the consistency and output-magnitude terms train the consistency model only; the
    # encoder's gradient is then exactly the magnitude head's.
    from m2l2.consistency import training_loss

    audio = torch.randn(2, 1, micro().train_samples) * 0.1

    def encoder_grad(detach: bool, magnitude_weight: float) -> torch.Tensor:
        model = micro().train()
        with torch.no_grad():  # a non-zero output head, so that the loss depends on the cross-connections
            model.consistency.head[-1].weight.normal_(0, 0.05)
        loss, _ = training_loss(model, audio, 0, 10, torch.Generator().manual_seed(0),
                                magnitude_weight=magnitude_weight, output_magnitude_weight=1.0, detach_cross=detach)
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.consistency.parameters())
        return torch.cat([p.grad.flatten() for p in model.encoder.parameters() if p.grad is not None]
                         or [torch.zeros(1)])

    assert encoder_grad(False, 0.0).abs().sum() > 0
    assert encoder_grad(True, 0.0).abs().sum() == 0
    head_only = encoder_grad(True, 1.0)
    assert head_only.abs().sum() > 0
    model = micro().train()  # the same initial weights: the magnitude head's loss alone
    from m2l2 import spectral
    from m2l2.consistency import split_chunks
    from m2l2.edm import pseudo_huber

    x = split_chunks(spectral.to_spec(audio), model.config.chunk_frames).flatten(0, 1)
    cross = model.decoder(model.encoder(x))
    pseudo_huber(model.decoder.magnitude(cross), spectral.magnitude(x)).mean().backward()
    alone = torch.cat([p.grad.flatten() for p in model.encoder.parameters() if p.grad is not None])
    assert torch.allclose(head_only, alone, atol=1e-6, rtol=1e-4)


def test_detach_cross_without_a_magnitude_head_is_refused():
    from m2l2.consistency import training_loss

    model = micro("tiny", ("model.magnitude_head=false",))
    with pytest.raises(ValueError, match="magnitude head"):
        training_loss(model, torch.zeros(1, 1, model.train_samples), 0, 10, detach_cross=True)


def test_output_magnitude_loss_adds_the_student_magnitude_distance_to_the_clean_chunk():
    # loss(w) = loss(0) + w · mean pseudo-Huber(|student|, |x|), with the same draws; a student that
    # returns the clean chunk at every σ has zero magnitude term.
    from m2l2 import spectral
    from m2l2.consistency import split_chunks, training_loss

    model = micro().eval()
    audio = torch.randn(2, 1, model.train_samples) * 0.1
    with torch.no_grad():
        model.consistency.head[-1].weight.normal_(0, 0.05)
        runs = {w: training_loss(model, audio, 0, 10, torch.Generator().manual_seed(0), magnitude_weight=0.0,
                                 output_magnitude_weight=w) for w in (0.0, 2.0)}
    term = runs[2.0][1]["output_magnitude_loss"]
    assert term > 0 and "output_magnitude_loss" not in runs[0.0][1]
    assert runs[2.0][0].item() == pytest.approx(runs[0.0][0].item() + 2.0 * term, rel=1e-5)
    clean = split_chunks(spectral.to_spec(audio), model.config.chunk_frames)
    model.consistency.forward = lambda x, sigma, cross, last_only=False: clean
    with torch.no_grad():
        _, stats = training_loss(model, audio, 0, 10, torch.Generator().manual_seed(0), magnitude_weight=0.0,
                                 output_magnitude_weight=1.0)
    assert stats["output_magnitude_loss"] < 1e-3


def test_magnitude_of_the_representation_is_the_compressed_stft_magnitude():
    from m2l2 import spectral

    wave = torch.randn(2, 2, spectral.frames_to_samples(8)) * 0.1
    expected = spectral.compress(spectral.stft(wave)).abs()  # [B, C, F, T]
    assert torch.allclose(spectral.magnitude(spectral.to_spec(wave)), expected, atol=1e-6)


def test_magnitude_head_adds_its_weighted_loss_and_trains_the_encoder():
    from m2l2.consistency import training_loss

    torch.manual_seed(0)
    model = micro().train()  # tiny has the head
    audio = torch.randn(2, 1, model.train_samples) * 0.1
    losses = {}
    for w in (0.0, 2.0):
        model.zero_grad()
        loss, stats = training_loss(model, audio, 0, 10, torch.Generator().manual_seed(1), magnitude_weight=w)
        losses[w] = (loss, stats["magnitude_loss"])
    assert stats["magnitude_loss"] > 0
    assert math.isclose(losses[2.0][0].item() - losses[0.0][0].item(), 2.0 * losses[2.0][1], rel_tol=1e-4)
    losses[2.0][0].backward()
    assert model.decoder.magnitude_head.weight.grad.abs().sum() > 0
    assert model.encoder.to_latent.weight.grad.abs().sum() > 0
    assert m2l2.build("paper").decoder.magnitude_head is None  # the paper has no such head



@torch.no_grad()
def test_channels_last_and_one_step_shortcut_keep_outputs():
    # speed options must not change the maths: channels-last convolutions, and one-step decoding skipping
    # the unused re-decode of the previous chunk (`last_only`), equal the plain computation within float error
    model = micro()
    torch.manual_seed(1)
    for p in model.consistency.head[-1].parameters():  # a fresh head outputs 0: make decoding depend on F
        p.data.normal_(0, 0.05)
    x = torch.randn(1, 1, 3 * model.chunk_samples) * 0.1
    lat = model.encode(x)
    dec = model.decode(lat, generator=torch.Generator().manual_seed(0))
    one = model.decode(lat, generator=torch.Generator().manual_seed(0), redecode_previous=False)
    pair = torch.randn(1, 2, 2, 1024, 64)
    sig = torch.tensor([[0.4, 2.0]])
    cross = model.decoder(lat[0, :2])
    full = model.consistency(pair, sig, cross)
    assert torch.allclose(model.consistency(pair, sig, cross, last_only=True)[:, 0], full[:, 1], atol=1e-5)
    model.to(memory_format=torch.channels_last)
    assert torch.allclose(model.encode(x), lat, atol=1e-5)
    assert torch.allclose(model.decode(lat, generator=torch.Generator().manual_seed(0)), dec, atol=1e-5)
    assert torch.allclose(
        model.decode(lat, generator=torch.Generator().manual_seed(0), redecode_previous=False), one, atol=1e-5
    )


@torch.no_grad()
def test_frequency_scaling_starts_as_a_no_op_and_then_acts_per_bin():
    # Upstream's σ-conditioned per-bin gains: zero-initialised they leave the output as without them (same
    # other weights); once trained they change it at the bins they touch, and `last_only` stays exact.
    plain = micro()
    torch.manual_seed(1)
    for p in plain.consistency.head[-1].parameters():
        p.data.normal_(0, 0.05)
    gains = micro(extra=("model.frequency_scaling=true",))
    missing, _ = gains.load_state_dict(plain.state_dict(), strict=False)
    assert {k.split(".")[1] for k in missing} == {"scale_in", "scale_out"}
    lat = torch.rand(2, *plain.config.latent_shape) * 2 - 1
    pair = torch.randn(1, 2, 2, 1024, plain.config.chunk_frames)
    sig = torch.tensor([[0.4, 2.0]])
    cross = plain.decoder(lat)
    b0 = gains.consistency(pair, sig, cross)
    assert torch.equal(b0, plain.consistency(pair, sig, cross))  # zero-initialised gains: a no-op
    out_gain = gains.consistency.scale_out[-1]
    out_gain.bias.data.zero_()
    out_gain.bias.data[:100] = -1.0  # mute the output features of the lowest 100 bins
    b1 = gains.consistency(pair, sig, cross)
    changed = (b1 - b0).abs().amax(dim=(0, 1, 2, 4))
    assert changed[:98].min() > 0 and changed[102:].max() == 0  # 3x3 conv: 1-bin halo at the edge
    assert torch.allclose(gains.consistency(pair, sig, cross, last_only=True)[:, 0], b1[:, 1], atol=1e-5)


def test_retired_model_options_load_when_inert_and_are_refused_otherwise():
    # Checkpoints written before the investigation options were removed record them at their "off" values:
    # those load; a checkpoint that used one cannot be rebuilt and says so in one line.
    inert = {"cross_depatchifier": False, "head_cross": False, "cross_gain": False, "noise_scale": 1.0,
             "norm_min_channels": 4}
    assert ModelConfig.from_dict(inert) == ModelConfig()
    assert ModelConfig.normalise({**ModelConfig().to_dict(), **inert}) == ModelConfig().to_dict()
    for key, value in (("noise_scale", 1000.0), ("norm_min_channels", 1), ("head_cross", True)):
        with pytest.raises(M2L2Error, match=f"model.{key} was removed"):
            ModelConfig.from_dict({key: value})


@torch.no_grad()
def test_reconstruct_returns_the_inputs_duration_at_any_rate():
    model = micro()
    for n, rate in ((50_000, 44_100), (16_000, 16_000)):
        out = model.reconstruct(torch.randn(1, n) * 0.1, rate, generator=torch.Generator().manual_seed(0))
        assert out.shape == (1, 1, round(n * 44_100 / rate))
    assert model.decode(model.encode(torch.randn(1, 50_000) * 0.1)).shape[-1] > 50_000  # whole chunks


@torch.no_grad()
def test_encode_in_windows_equals_the_whole_input_spectrogram():
    # encode computes each window's STFT from its own samples (memory bounded whatever the length): the
    # latents equal those of one STFT over the whole padded input, for any window size and batch.
    model = micro()
    audio = torch.randn(2, 1, 9 * model.chunk_samples + 1234) * 0.1
    padded, chunks = spectral.pad_for_chunks(audio, model.config.chunk_frames)
    spec = spectral.to_spec(padded)
    b, c2, f, _ = spec.shape
    flat = spec.reshape(b, c2, f, chunks, model.config.chunk_frames).permute(0, 3, 1, 2, 4).flatten(0, 1)
    whole = model.encoder(flat).unflatten(0, (b, chunks))
    for max_batch in (1, 3, 64):
        assert torch.allclose(model.encode(audio, max_batch=max_batch), whole, atol=1e-5)
    assert model.embed(audio, max_batch=3).shape == (2, model.embed(audio).shape[1])


@torch.no_grad()
def test_encode_resamples_in_a_stream_exactly_as_in_one_piece():
    # encode resamples block by block (soxr's stream): the latents equal those of the input resampled whole.
    from m2l2.audio import resample

    model = micro()
    audio = (np.random.default_rng(0).standard_normal((1, 3 * 16_000 + 77)) * 0.1).astype(np.float32)
    whole = torch.from_numpy(resample(audio, 16_000, 44_100))[None]
    stream = model.encode(audio, 16_000, max_batch=4)
    pieces = [audio[:, i : i + 5_000] for i in range(0, audio.shape[1], 5_000)]
    blocks = torch.cat(list(model._at_model_rate((torch.from_numpy(p)[None] for p in pieces), 16_000)), dim=-1)
    assert blocks.shape == whole.shape and torch.allclose(blocks, whole, atol=1e-6)
    assert torch.allclose(stream, model.encode(whole, 44_100), atol=1e-5)
    assert torch.allclose(model.encode_blocks(iter(pieces), 16_000, max_batch=4), stream, atol=1e-5)
