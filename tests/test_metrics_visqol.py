"""ViSQOL audio mode through visqol-python: ceiling for identical input, lower for degraded, explicit down-mix."""

import numpy as np
import pytest

pytest.importorskip("visqol", reason="visqol-python is an optional extra (pip install 'm2l2[visqol]')")

from benchmarks.metrics.visqol import IDENTICAL_SCORE, VisqolJob, prepare, visqol_many, visqol_score  # noqa: E402
from m2l2.errors import M2L2Error  # noqa: E402

SR = 48000


def _music(seconds=3.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    notes = sum(
        np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * r * t))
        for f, r in [(220, 1.0), (330, 1.5), (440, 0.7)]
    )
    return (0.2 * notes + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_identical_signals_hit_the_ceiling():
    x = _music()
    assert visqol_score(x, x, SR) == pytest.approx(IDENTICAL_SCORE, abs=1e-3)


def test_degraded_copy_scores_lower():
    x = _music()
    noisy = x + 0.05 * np.random.default_rng(1).standard_normal(x.size).astype(np.float32)
    score = visqol_score(x, noisy, SR)
    assert 1.0 <= score < IDENTICAL_SCORE - 0.3


def test_stereo_is_downmixed_not_interleaved():
    left, right = _music(seed=2), _music(seed=3)[::-1].copy()
    ref = np.stack([left, right])
    est = ref + 0.02 * np.random.default_rng(4).standard_normal(ref.shape).astype(np.float32)
    assert prepare(ref, SR).shape == (left.size,)
    assert np.allclose(prepare(ref, SR), (left + right) / 2)
    assert visqol_score(ref, est, SR) == pytest.approx(visqol_score(ref.mean(0), est.mean(0), SR), abs=1e-6)
    with pytest.raises(M2L2Error, match=r"\[C, N\]"):
        prepare(ref.T, SR)


def test_resampled_input_and_job_order():
    x44 = _music(seconds=2.0)[: 2 * 44100]
    jobs = [VisqolJob((x44, 44100), (x44, 44100)), VisqolJob((x44, 44100), (0.5 * x44[::-1].copy(), 44100))]
    (same, err1), (bad, err2) = visqol_many(jobs, workers=1, progress=False)
    assert err1 is None and err2 is None
    assert same == pytest.approx(IDENTICAL_SCORE, abs=1e-3) and bad < same - 1.0


@pytest.mark.slow
def test_parallel_workers_match_serial(tmp_path):
    from m2l2.audio import save_audio

    x = _music(seconds=2.0)
    y = x + 0.05 * np.random.default_rng(5).standard_normal(x.size).astype(np.float32)
    save_audio(tmp_path / "ref.wav", x, SR)
    save_audio(tmp_path / "est.wav", y, SR)
    jobs = [
        VisqolJob(tmp_path / "ref.wav", tmp_path / "est.wav"),
        VisqolJob(tmp_path / "ref.wav", tmp_path / "ref.wav"),
    ]
    parallel = visqol_many(jobs, workers=2, progress=False)
    from benchmarks.metrics import visqol as visqol_module

    pool = visqol_module._POOL
    again = visqol_many(jobs, workers=2, progress=False)  # the same worker processes again
    # Not bit-identical across calls: a worker's FFT/BLAS may sum in another order (CI saw 2e-15 relative).
    assert [a[1] for a in again] == [p[1] for p in parallel]
    assert [a[0] for a in again] == pytest.approx([p[0] for p in parallel], abs=1e-9)
    assert visqol_module._POOL is pool and pool is not None
    serial = visqol_many(jobs, workers=1, progress=False)
    assert [p[0] for p in parallel] == pytest.approx([s[0] for s in serial], abs=1e-9)
    assert parallel[1][0] == pytest.approx(IDENTICAL_SCORE, abs=1e-3)
