"""Multi-scale mel/STFT distances: hand-computed values on bin-centred cosines, librosa's mel filters, symmetry.

The cosine cases are exact. x[n] = A·cos(2πn/8) (f = sr/8) sits on bin k = w/8 of every window w used, and
with L − 1 a multiple of 2048 the reflect padding continues the cosine exactly at both ends, so every frame
sees the same bin-centred cosine. The periodic Hann window's DFT has three non-zero taps (w/2 at 0, −w/4 at
±1), so each frame's |X| is A·w/4 at bin k, A·w/8 at k ± 1 and 0 (rounding, ~1e-13) elsewhere: bins below the
clamp ε = 1e-5 on both sides contribute 0 to the log term.
"""

import math

import numpy as np
import pytest
import torch

from benchmarks.metrics.bootstrap import bootstrap_mean_ci
from benchmarks.metrics.spectral_distance import (
    DAC_MEL,
    DAC_STFT,
    MultiScaleSpec,
    clip_distances,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    spectral_distance,
    stft_magnitude,
)
from m2l2.errors import M2L2Error

SR = 44100
FIXTURE = "tests/fixtures/spectral/librosa_mel.npz"  # librosa 0.10.2 `filters.mel(sr, n_fft, n_mels)` output


def _cosine(amplitude: float, periods: int = 12) -> np.ndarray:
    n = np.arange(2048 * periods + 1)
    return amplitude * np.cos(2 * np.pi * n / 8)


def test_mel_filterbank_matches_librosa_defaults():
    fixture = np.load(FIXTURE)
    assert len(fixture.files) == 6
    for key in fixture.files:
        sr, w, m = (int(part.lstrip("srwm")) for part in key.split("_"))
        expected = fixture[key].astype(np.float64)  # librosa returns float32
        assert mel_filterbank(sr, w, m) == pytest.approx(expected, rel=1e-6, abs=1e-10), key


def test_slaney_mel_scale_and_area_normalisation():
    assert hz_to_mel(np.array([0.0, 200.0, 1000.0, 6400.0])) == pytest.approx([0.0, 3.0, 15.0, 42.0])
    f = np.array([50.0, 999.0, 1000.0, 3000.0, 20000.0])
    assert mel_to_hz(hz_to_mel(f)) == pytest.approx(f, rel=1e-12)
    # Slaney normalisation: each triangle integrates to 1 over Hz (checked with a fine frequency grid)
    fb = mel_filterbank(SR, 2**16, 40)
    area = fb.sum(axis=1) * (SR / 2**16)
    assert area == pytest.approx(np.ones(40), rel=0.01)


@pytest.mark.parametrize("w", [32, 256, 2048])
def test_stft_magnitude_matches_torch_stft(w):
    # audiotools' call: torch.stft(n_fft=w, hop=w//4, periodic Hann, center=True, pad_mode="reflect")
    x = np.random.default_rng(0).standard_normal((2, 5000))
    expected = torch.stft(
        torch.from_numpy(x),
        n_fft=w,
        hop_length=w // 4,
        window=torch.hann_window(w, periodic=True, dtype=torch.float64),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()
    got = stft_magnitude(x, w)
    assert got.shape == (2, 5000 // (w // 4) + 1, w // 2 + 1)
    assert got == pytest.approx(expected.numpy().transpose(0, 2, 1), rel=1e-10, abs=1e-10)


def test_cosine_spectrum_has_the_three_hann_taps():
    a = 0.5
    mag = stft_magnitude(_cosine(a)[None], 512)[0]  # [frames, bins]
    k = 512 // 8
    assert mag[:, k] == pytest.approx(np.full(mag.shape[0], a * 512 / 4), rel=1e-10)
    assert mag[:, k - 1] == pytest.approx(np.full(mag.shape[0], a * 512 / 8), rel=1e-10)
    assert mag[:, k + 1] == pytest.approx(np.full(mag.shape[0], a * 512 / 8), rel=1e-10)
    others = np.delete(mag, [k - 1, k, k + 1], axis=1)
    assert others.max() < 1e-9  # far below the clamp


def test_stft_distance_of_half_amplitude_cosine():
    a = 0.5
    got = spectral_distance(_cosine(a), _cosine(a / 2), SR, DAC_STFT)
    # 3 of w/2+1 bins differ by a factor 2 in every frame; pow 2 → 2·log10(2) on each of them
    log_term = sum(2 * math.log10(2) * 3 / (w // 2 + 1) for w in (2048, 512))
    # | |X| − |Y| | = (A/2)·(w/4 + 2·w/8) summed over the three bins, averaged over the w/2+1 bins
    mag_term = sum((a / 2) * (w / 2) / (w // 2 + 1) for w in (2048, 512))
    assert got.log_term == pytest.approx(log_term, rel=1e-9)
    assert got.mag_term == pytest.approx(mag_term, rel=1e-9)
    assert got.value == pytest.approx(log_term + mag_term, rel=1e-9)


def test_stft_distance_against_silence_is_set_by_the_clamp():
    a, eps = 0.5, 1e-5
    got = spectral_distance(_cosine(a), np.zeros(2048 * 12 + 1), SR, DAC_STFT)
    # silence is clamped to ε everywhere: only the three tonal bins differ, by pow·log10(|X|/ε)
    log_term = sum(
        2 * (math.log10(a * w / 4 / eps) + 2 * math.log10(a * w / 8 / eps)) / (w // 2 + 1)
        for w in (2048, 512)
    )
    mag_term = sum(a * (w / 2) / (w // 2 + 1) for w in (2048, 512))
    assert got.log_term == pytest.approx(log_term, rel=1e-9)
    assert got.mag_term == pytest.approx(mag_term, rel=1e-9)


def test_mel_distance_of_half_amplitude_noise_is_log10_2_per_scale():
    # The mel spectrogram is linear in |X|, so halving the signal halves every band: log10(2) on every band
    # of every frame at each of the 7 scales as long as no band falls under the clamp (a loud signal; no
    # band of the 7 filterbanks is empty at 44.1 kHz).
    x = 1000.0 * np.random.default_rng(1).standard_normal(SR)
    for w, m in zip(DAC_MEL.window_lengths, DAC_MEL.n_mels, strict=True):
        assert (mel_filterbank(SR, w, m).sum(axis=1) > 0).all()
    got = spectral_distance(x, x / 2, SR, DAC_MEL)
    assert got.log_term == pytest.approx(7 * math.log10(2), rel=1e-9)
    assert got.mag_term == 0.0 and got.value == got.log_term  # DAC's config: mag_weight 0
    assert spectral_distance(x / 2, x, SR, DAC_MEL).value == pytest.approx(got.value, rel=1e-12)


def test_mel_distance_of_cosine_against_silence():
    a, eps = 0.5, 1e-5
    got = spectral_distance(_cosine(a), np.zeros(2048 * 12 + 1), SR, DAC_MEL).value
    expected = 0.0
    for w, m in zip(DAC_MEL.window_lengths, DAC_MEL.n_mels, strict=True):
        fb, k = mel_filterbank(SR, w, m), w // 8
        bands = a * w / 8 * (fb[:, k - 1] + 2 * fb[:, k] + fb[:, k + 1])  # the three taps through the filters
        expected += np.mean(np.abs(np.log10(np.maximum(bands, eps)) - math.log10(eps)))
    assert got == pytest.approx(expected, rel=1e-9)
    assert 0 < got < 7 * 5  # each band differs by at most log10(max/ε) ≈ 5 here


@pytest.mark.parametrize("spec", [DAC_MEL, DAC_STFT], ids=lambda s: s.name)
def test_identity_symmetry_and_channels(spec: MultiScaleSpec):
    rng = np.random.default_rng(2)
    x, y = 0.1 * rng.standard_normal((2, 8000)), 0.1 * rng.standard_normal((2, 8000))
    assert spectral_distance(x, x, SR, spec).value == 0.0
    d = spectral_distance(x, y, SR, spec)
    assert d.value > 0
    assert spectral_distance(y, x, SR, spec).value == pytest.approx(d.value, rel=1e-12)
    # channels are averaged: one identical channel halves a mono distance
    mixed = np.stack([y[0], x[1]])
    assert spectral_distance(x, mixed, SR, spec).value == pytest.approx(
        spectral_distance(x[0], y[0], SR, spec).value / 2, rel=1e-12
    )
    # a mono estimate is compared with the down-mix of a stereo reference; lengths are cropped
    assert spectral_distance(x, x.mean(axis=0)[:7000], SR, spec).value == pytest.approx(0.0, abs=1e-12)


def test_log_term_ignores_a_common_gain_and_mag_term_scales_with_it():
    rng = np.random.default_rng(3)
    x, y = 10 * rng.standard_normal(30000), 10 * rng.standard_normal(30000)
    d = spectral_distance(x, y, SR, DAC_STFT)
    d4 = spectral_distance(4 * x, 4 * y, SR, DAC_STFT)
    assert d4.log_term == pytest.approx(d.log_term, rel=1e-9)
    assert d4.mag_term == pytest.approx(4 * d.mag_term, rel=1e-9)


def test_clip_distances_mean_and_bootstrap_ci():
    rng = np.random.default_rng(4)
    pairs = [(rng.standard_normal(4000), rng.standard_normal(4000) * s) for s in np.linspace(0.2, 2.0, 12)]
    summary = clip_distances(pairs, SR, DAC_MEL, n_boot=500, seed=0)
    values = np.array([d.value for d in summary.per_clip])
    assert summary.name == "mel" and len(values) == 12
    assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
    assert summary.ci == bootstrap_mean_ci(values, 500, 0, 0.95)
    assert summary.ci[0] < summary.mean < summary.ci[1]


def test_errors():
    with pytest.raises(M2L2Error, match="more than 1024 common samples"):
        spectral_distance(np.ones(5000), np.ones(1000), SR, DAC_STFT)
    with pytest.raises(M2L2Error, match="no clip pairs"):
        clip_distances([], SR)
