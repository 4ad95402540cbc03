"""Parallel decoding: where it must equal autoregressive decoding, and that its batch is bounded."""

from __future__ import annotations

import pytest
import torch
from helpers_m2l2 import micro

from m2l2.errors import M2L2Error


def _random_head(model):
    """A fresh consistency model is the skip connection (output = c_skip·x): perturb its zero-initialised
    output conv so that decoding depends on the context and the tests below can fail."""
    torch.manual_seed(1)
    for p in model.consistency.head[-1].parameters():
        p.data.normal_(0, 0.5)  # large enough that the left neighbour's effect is well above float error
    return model


@pytest.fixture(scope="module")
def setup():
    model = _random_head(micro())
    torch.manual_seed(2)
    lat = torch.rand(2, 5, 8, 64) * 2 - 1  # 2 items, 5 chunks
    return model, lat


def _dec(model, lat, **kw):
    return model.decode(lat, generator=torch.Generator().manual_seed(0), **kw)


@torch.no_grad()
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("redecode", [True, False])
def test_one_and_two_chunks_equal_autoregressive(setup, steps, redecode):
    # one chunk: both decode it alone from the same noise; two chunks: the first version of chunk 0 is the
    # same, and the pair (0, 1) sees the same inputs and noise, so every output is the same
    model, lat = setup
    for t in (1, 2):
        ar = _dec(model, lat[:, :t], steps=steps, redecode_previous=redecode)
        par = _dec(model, lat[:, :t], steps=steps, redecode_previous=redecode, mode="parallel")
        assert torch.allclose(ar, par, atol=1e-5), (t, (ar - par).abs().max())


def _two_chunk_samples(model) -> int:
    """Output samples that only chunks 0 and 1 reach (frame 128 is chunk 2's first; unpad shifts by 768)."""
    return 2 * model.chunk_samples - 768


@torch.no_grad()
def test_more_chunks_keep_chunks_0_and_1_and_differ_later(setup):
    # chunk 0 and 1 see the same inputs and noise in both modes (pair (0, 1) conditions on chunk 0's first
    # version); from chunk 2 on, parallel mode's context is the neighbour's independent decode
    model, lat = setup
    n = _two_chunk_samples(model)
    for redecode in (True, False):
        ar = _dec(model, lat, redecode_previous=redecode)
        par = _dec(model, lat, mode="parallel", redecode_previous=redecode)
        if not redecode:  # autoregressive two-step decoding re-decodes chunk 1 with chunk 2: only one-step agrees
            # (one-step modes differ from chunk 2 on only at second order: by the context effect on chunk 1's
            # context, too small to assert here)
            assert torch.allclose(ar[..., :n], par[..., :n], atol=1e-5)
        else:  # chunk t ≥ 1: re-decoded from its context-conditioned version vs conditioned on the first version
            m = model.chunk_samples - 768
            assert torch.allclose(ar[..., :m], par[..., :m], atol=1e-5)
            assert not torch.allclose(ar[..., m + 2048 :], par[..., m + 2048 :], atol=1e-4)


@torch.no_grad()
def test_each_chunk_depends_on_its_own_and_its_left_latents_only(setup):
    model, lat = setup
    ref = _dec(model, lat, mode="parallel")
    edited = lat.clone()
    edited[:, 2] = -edited[:, 2]
    out = _dec(model, edited, mode="parallel")
    chunk = model.chunk_samples
    start = 2 * chunk - 768  # where chunk 2's frames begin in the output
    assert torch.allclose(ref[..., : start - 2048], out[..., : start - 2048], atol=1e-6)  # chunks 0, 1: untouched
    assert not torch.allclose(ref[..., 3 * chunk : 4 * chunk - 2048], out[..., 3 * chunk : 4 * chunk - 2048],
                              atol=1e-4)  # chunk 3 sees chunk 2 as its context
    assert torch.allclose(ref[..., 4 * chunk + 1024 :], out[..., 4 * chunk + 1024 :], atol=1e-6)  # chunk 4 does not


@torch.no_grad()
def test_sigma_cond_at_sigma_min(setup):
    # σ_cond → σ_min: re-noising adds nothing and f(x, σ_min) = x (c_skip = 1, c_out = 0), so a re-decoded
    # chunk is its first version: two-step equals one-step decoding, in both modes
    model, lat = setup
    for mode in ("autoregressive", "parallel"):
        two = _dec(model, lat, sigma_cond=0.0, mode=mode)
        one = _dec(model, lat, sigma_cond=0.0, mode=mode, redecode_previous=False)
        assert torch.allclose(two, one, atol=1e-5), mode
    # ...while at σ_cond = 0.4 the re-decode changes chunk 0
    m = model.chunk_samples - 768
    two, one = _dec(model, lat, mode="parallel"), _dec(model, lat, mode="parallel", redecode_previous=False)
    assert not torch.allclose(two[..., :m], one[..., :m], atol=1e-4)


@torch.no_grad()
@pytest.mark.parametrize("redecode", [True, False])
def test_result_does_not_depend_on_the_batch_bound(setup, redecode):
    model, lat = setup
    ref = _dec(model, lat, mode="parallel", max_batch=16, redecode_previous=redecode)
    for mb in (1, 2, 3):
        out = _dec(model, lat, mode="parallel", max_batch=mb, redecode_previous=redecode)
        assert torch.allclose(ref, out, atol=1e-5), mb


@torch.no_grad()
def test_batch_is_bounded(setup):
    model, lat = setup
    sizes = []
    hook = model.consistency.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[:2]))
    try:
        _dec(model, lat, mode="parallel", max_batch=2)
    finally:
        hook.remove()
    b = lat.shape[0]
    assert max(s[0] * s[1] for s in sizes) <= 2 * 2 * b  # ≤ max_batch pairs of chunks per item
    # each chunk alone (5), then chunk 1..4 with its left neighbour (4 pairs), plus the pair (0, 1) once more
    # for chunk 0's re-decoded version
    assert sum(s[0] * s[1] for s in sizes) == b * (5 + 2 * 4 + 2)


def test_mode_errors(setup):
    model, lat = setup
    with pytest.raises(M2L2Error, match="mode"):
        model.decode(lat, mode="sideways")
    with pytest.raises(M2L2Error, match="max_batch"):
        model.decode(lat, mode="parallel", max_batch=0)


@torch.no_grad()
def test_adapter_and_yaml_option_reach_the_model(setup, tmp_path, micro_checkpoint):
    # decode_mode travels from the YAML options through DecodingOptions to Music2Latent2.decode
    from baselines.adapters.music2latent2 import DecodingOptions, Music2Latent2AE

    ae = Music2Latent2AE(checkpoint=micro_checkpoint(tmp_path / "ckpt"), decode_mode="parallel", max_batch=2)
    ae.model = _random_head(ae.model)
    lat = setup[1][0]  # [5 chunks, L, D]
    got = ae.decode(lat, seed=0)
    want = _dec(ae.model, lat[None], mode="parallel", max_batch=2)[0].numpy()
    autoregressive = ae.decode(lat, options=ae.decoding.replace(decode_mode="autoregressive"), seed=0)
    assert ae.decoding.decode_mode == "parallel"
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(want), atol=1e-6)
    assert not torch.allclose(torch.from_numpy(got), torch.from_numpy(autoregressive), atol=1e-4)
    with pytest.raises(M2L2Error, match="decode_mode"):
        DecodingOptions(decode_mode="sideways")
