"""Code that must give the same numbers under NumPy 1.x and 2.x (`numpy>=1.24` is declared; the clap
extra pins `numpy<2`). CI runs these tests in both environments (see .ci/run)."""

from __future__ import annotations

import numpy as np
import pytest

from m2l2.training.trainer import step_seed


def _reference_seed(seed: int, rank: int, step: int) -> int:
    # NumPy documents a uint64 word of SeedSequence.generate_state as two uint32 words, low word first.
    low, high = (int(w) for w in np.random.SeedSequence([seed, rank, step]).generate_state(2, np.uint32))
    return ((high << 32) | low) >> 1


@pytest.mark.parametrize("args", [(0, 0, 0), (3, 1, 12_345), (2**40, 7, 10**9)])
@pytest.mark.parametrize("kind", [int, np.uint64, np.int64])
def test_step_seed_for_numpy_and_python_integers(args, kind):
    seed = step_seed(*(kind(a) for a in args))
    assert type(seed) is int and 0 <= seed < 2**63  # torch.manual_seed takes it
    assert seed == _reference_seed(*args)


def test_step_seed_value_is_pinned():
    # The training noise of every step depends on it; resuming a run needs the same value forever.
    assert step_seed(0, 0, 0) == 7_896_617_691_693_857_887
