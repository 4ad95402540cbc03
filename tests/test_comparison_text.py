"""How a p-value is written: a set comparison whose resamples never changed sign shows its floor as a bound."""

from __future__ import annotations

from benchmarks.metrics.paired import Comparison
from benchmarks.rendering.comparisons import comparison_text, p_text


def _set(flips: int, resamples: int = 200, holm: int = 6) -> Comparison:
    raw = min(1.0, 2.0 * (flips + 1) / (resamples + 1))
    return Comparison("fad-musicnn", "set", "A", "B", difference=34.6, ci=(31.6, 39.2), p_value=raw,
                      p_adjusted=min(1.0, holm * raw), family="fad", resamples=resamples,
                      sign_flip_share=flips / resamples)


def test_no_sign_flip_is_written_as_a_bound():
    # 200 resamples, none of the opposite sign: raw p = 2/201, Holm over 6 rows 0.0597 (the floor, not "0.060")
    assert p_text(_set(0)) == "p≤0.060"
    assert p_text(_set(0), latex=True) == r"$p\leq 0.060$"
    assert comparison_text(_set(0), 3, latex=False, notes=[]) == "34.600 [31.600, 39.200] p≤0.060"


def test_sign_flips_give_an_estimate():
    assert p_text(_set(3, holm=1)) == "p=0.040\\*"
    per_clip = Comparison("sisdr", "per-clip", difference=1.0, p_value=0.012, sign_flip_share=None)
    assert p_text(per_clip) == "p=0.012\\*"
