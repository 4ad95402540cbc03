"""Streaming decoding and file I/O: blocks equal the whole output exactly, and arrive before decoding ends."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers_m2l2 import micro

from m2l2 import decoding, spectral
from m2l2.audio import read_blocks, save_audio, write_blocks
from m2l2.errors import M2L2Error


@pytest.fixture(scope="module")
def setup():
    model = micro()
    torch.manual_seed(1)
    for p in model.consistency.head[-1].parameters():  # a fresh head outputs c_skip·x: make chunks differ
        p.data.normal_(0, 0.5)
    return model, torch.rand(2, 4, 8, 64) * 2 - 1


@torch.no_grad()
@pytest.mark.parametrize("how", [decoding.Decoding(), decoding.Decoding(redecode_previous=False),
                                 decoding.Decoding("parallel", max_batch=2), decoding.Decoding("ode", steps=2),
                                 decoding.Decoding(steps=2)])
@pytest.mark.parametrize("length", [None, 40_000, 5])
def test_blocks_concatenate_to_the_whole_output_exactly(setup, how, length):
    model, lat = setup
    whole = decoding.decode(model, lat, how, length, torch.Generator().manual_seed(0))
    blocks = list(decoding.decode_blocks(model, lat, how, length, torch.Generator().manual_seed(0)))
    assert torch.equal(torch.cat(blocks, dim=-1), whole)
    assert len(blocks) >= (2 if length is None else 1)


def test_streaming_overlap_add_equals_the_whole_inverse_and_refuses_disorder():
    torch.manual_seed(0)
    spec = torch.randn(1, 2, 1024, 12, dtype=torch.complex64)
    stream = spectral.StreamingOverlapAdd((1, 2), 12)
    parts = [stream.add(spec[..., first : first + 4], first) for first in (0, 4, 8)]
    parts.append(stream.finish())
    assert [p.shape[-1] for p in parts] == [0, 4 * spectral.HOP, 4 * spectral.HOP, spectral.frames_to_samples(4)]
    # reference: every chunk's windowed frames summed into one full-length buffer, then normalised
    whole = torch.zeros(1, 2, spectral.frames_to_samples(12))
    for first in (0, 4, 8):
        seg = spectral._frames_to_segment(spec[..., first : first + 4], torch.float32)
        whole[..., first * spectral.HOP : first * spectral.HOP + seg.shape[-1]] += seg
    whole /= spectral._window_square_sum(12, torch.device("cpu"), torch.float32).clamp_min(1e-8)
    streamed = torch.cat(parts, dim=-1)
    assert torch.equal(streamed, whole)  # the same sums in the same order
    assert torch.allclose(streamed, spectral.istft(spec), atol=1e-5)  # the whole spectrogram in one add
    with pytest.raises(ValueError, match="arrived after"):
        stream.add(spec[..., :4], 0)


@torch.no_grad()
def test_first_block_arrives_before_the_last_chunk_is_decoded(setup, monkeypatch):
    model, lat = setup
    calls = []
    forward = model.consistency.forward
    monkeypatch.setattr(model.consistency, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    blocks = decoding.decode_blocks(model, lat, decoding.Decoding(), None, torch.Generator().manual_seed(0))
    next(blocks)
    assert len(calls) < lat.shape[1]  # one network call per chunk: the rest is still to come


def test_independent_decoding_is_not_streamed(setup):
    model, lat = setup
    with pytest.raises(M2L2Error, match="use decode"):
        next(decoding.decode_blocks(model, lat[:1], decoding.Decoding("independent")))


def test_written_blocks_equal_one_save_and_reading_blocks_equals_one_read(tmp_path):
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((2, 50_000)) * 0.3).astype(np.float32)
    save_audio(tmp_path / "whole.flac", audio, 44_100)
    assert write_blocks(tmp_path / "blocks.flac", [audio[:, :7_000], audio[:, 7_000:]], 44_100, 2) == 50_000
    assert (tmp_path / "whole.flac").read_bytes() == (tmp_path / "blocks.flac").read_bytes()
    blocks, rate, frames = read_blocks(tmp_path / "whole.flac", channels=1, block=8_192)
    blocks = list(blocks)
    assert (rate, frames, len(blocks)) == (44_100, 50_000, 7)
    expected = sf.read(tmp_path / "whole.flac", dtype="float32", always_2d=True)[0].T.mean(0, keepdims=True)
    assert np.array_equal(np.concatenate(blocks, axis=1), expected)


def test_a_failed_block_leaves_no_output(tmp_path):
    def blocks():
        yield np.zeros((1, 1_000), np.float32)
        raise RuntimeError("decoding stopped")

    with pytest.raises(RuntimeError):
        write_blocks(tmp_path / "out.wav", blocks(), 44_100, 1)
    assert list(tmp_path.iterdir()) == []


def test_a_nan_block_is_refused_with_the_file_named(tmp_path):
    audio = np.zeros((1, 30_000), np.float32)
    audio[0, 20_000] = np.nan
    sf.write(tmp_path / "nan.wav", audio.T, 44_100, subtype="FLOAT")
    blocks, _, _ = read_blocks(tmp_path / "nan.wav", channels=1, block=8_192)
    with pytest.raises(M2L2Error, match=r"non-finite.*nan\.wav"):
        list(blocks)
