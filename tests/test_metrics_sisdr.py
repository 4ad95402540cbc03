"""SI-SDR against closed-form cases: exact SNR mixtures, scaling, polarity, DC offset, channels, silence."""

import math

import numpy as np
import pytest

from benchmarks.metrics.sisdr import si_sdr, sisdr_channel


def _signal(n=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return np.sin(2 * np.pi * 220 * t) + 0.3 * rng.standard_normal(n)


def _mixture(ref, snr_db, seed=1):
    """ref + noise orthogonal to the zero-mean ref, scaled so that SI-SDR is exactly snr_db."""
    rng = np.random.default_rng(seed)
    r = ref - ref.mean()
    noise = rng.standard_normal(ref.size)
    noise -= noise.mean()
    noise -= (noise @ r) / (r @ r) * r
    noise *= math.sqrt((r @ r) / (noise @ noise) / 10 ** (snr_db / 10))
    return ref + noise


@pytest.mark.parametrize("snr", [-10.0, 0.0, 6.0, 20.0, 40.0])
def test_known_snr_mixture(snr):
    ref = _signal()
    assert si_sdr(ref, _mixture(ref, snr)).value == pytest.approx(snr, abs=0.01)


def test_float32_inputs_are_computed_in_float64():
    ref = _signal().astype(np.float32)
    est = _mixture(ref.astype(np.float64), 30.0).astype(np.float32)
    assert si_sdr(ref, est).value == pytest.approx(30.0, abs=0.01)


def test_scale_invariance_and_exact_copy_is_infinite():
    ref = _signal()
    est = _mixture(ref, 12.0)
    assert si_sdr(ref, 0.1 * est).value == pytest.approx(si_sdr(ref, est).value, abs=1e-9)
    assert si_sdr(ref, 0.5 * ref).value == math.inf
    assert si_sdr(ref, 3.0 * ref).value > 250  # rounding-level residual only


def test_polarity_inversion_scores_like_the_original():
    ref = _signal()
    est = _mixture(ref, 15.0)
    assert si_sdr(ref, -est).value == pytest.approx(15.0, abs=0.01)


def test_dc_offset_is_removed():
    ref = _signal()
    est = _mixture(ref, 20.0)
    assert si_sdr(ref, est + 0.05).value == pytest.approx(20.0, abs=0.01)
    assert si_sdr(ref + 0.3, est).value == pytest.approx(20.0, abs=0.01)
    # Without zero-mean the offset would matter: the check above is not vacuous.
    r, e = ref, est + 0.05
    alpha = (e @ r) / (r @ r)
    raw = 10 * np.log10(np.sum((alpha * r) ** 2) / np.sum((e - alpha * r) ** 2))
    assert abs(raw - 20.0) > 1.0


def test_channels_are_scored_separately_then_averaged():
    left, right = _signal(seed=2), _signal(seed=3)
    ref = np.stack([left, right])
    est = np.stack([_mixture(left, 10.0), _mixture(right, 20.0)])
    result = si_sdr(ref, est)
    assert result.value == pytest.approx(15.0, abs=0.01)
    assert result.per_channel[0] == pytest.approx(10.0, abs=0.01)


def test_common_length_crop():
    ref = _signal()
    est = _mixture(ref, 10.0)
    longer = np.concatenate([est, np.ones(500)])
    assert si_sdr(ref, longer).value == pytest.approx(10.0, abs=0.01)
    assert si_sdr(ref[:-100], est).value == pytest.approx(sisdr_channel(ref[:-100], est[:-100]), abs=1e-12)


def test_silent_reference_is_skipped_not_minus_100():
    ref = np.zeros((1, 8000))
    result = si_sdr(ref, np.random.default_rng(0).standard_normal((1, 8000)))
    assert result.value is None and result.skipped == "silent reference"
    # A constant (DC-only) reference is silent after removing the mean.
    assert si_sdr(np.full(8000, 0.2), _signal(8000)).value is None


def test_one_silent_channel_is_left_out_of_the_average():
    sig = _signal()
    ref = np.stack([sig, np.zeros_like(sig)])
    est = np.stack([_mixture(sig, 25.0), np.zeros_like(sig) + 1e-3])
    result = si_sdr(ref, est)
    assert result.per_channel[1] is None
    assert result.value == pytest.approx(25.0, abs=0.01)


def test_mono_estimate_of_stereo_reference_is_compared_as_mono():
    sig = _signal()
    ref = np.stack([sig, sig])
    assert si_sdr(ref, _mixture(sig, 8.0)).value == pytest.approx(8.0, abs=0.01)
