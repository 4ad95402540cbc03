"""Paired comparisons of two systems scored on the same clips: is a difference real?

For a per-clip metric (SI-SDR, ViSQOL, mel/STFT distance, per-song FAD, a seam error) the question is
answered on the per-clip differences d_i = a_i − b_i over the clips both systems scored:

* the estimate is the mean difference, mean(a − b);
* its interval is a paired percentile bootstrap: clips are resampled with replacement and both systems
  keep the same resample (it resamples the differences), drawn from the same seeded generator as every
  other interval of the tables (`bootstrap.resample_indices`), so the interval of a stored difference is
  reproduced exactly;
* its p-value is a two-sided paired sign-flip permutation test of "no difference" (under it, a_i and b_i
  are exchangeable within a clip, so every d_i keeps its size and gets a random sign):
  p = P(|mean(s·d)| ≥ |mean(d)|). With at most `n_perm` sign patterns (2^n ≤ n_perm) every pattern is
  enumerated and p is exact; otherwise p = (1 + k) / (1 + n_perm) over random patterns, which never
  reports 0 and keeps the test's level (Phipson & Smyth, 2010). This is the test that
  `scipy.stats.permutation_test(..., permutation_type="samples")` runs (checked in tests/test_paired.py).

A family of comparisons (Fig. 3's σ_cond points against one reference) is corrected with Holm's step-down
procedure. One significance mark is used in every table, Markdown, LaTeX and CSV alike (`mark`):
`*` p < 0.05, `**` p < 0.01, `***` p < 0.001, where p is the Holm-adjusted p-value when the comparison
belongs to a corrected family and the raw one otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmarks.metrics.bootstrap import percentile_ci, resample_indices

MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))  # (threshold, mark): p below the threshold
N_PERM = 50_000  # random sign patterns (p down to 2e-5, so Holm over ~20 tests can reach p < 0.001)
PERM_BLOCK = 1024  # sign patterns evaluated per matrix product (bounded memory)
NOT_COMPUTED = "not computed"


@dataclass
class Comparison:
    """The difference A − B of one metric between two systems on the same clips, and whether it is real.

    `kind`: "per-clip" (mean of per-clip values), "per-song" (mean per-song FAD) or "set" (one FAD/KAD
    over the clip set). Set comparisons carry `sign_flip_share` (the share of bootstrap resamples whose
    difference has the opposite sign) and their p-value is the bootstrap one, min(1, 2(k + 1)/(B + 1)).
    Their `shift` (mean resampled difference − estimate) shows how far resampling moved the difference:
    a resample repeats clips, which biases FAD upwards, and the percentile interval inherits whatever part
    of that bias the two systems do not share.
    """

    metric: str
    kind: str
    a: str = "A"
    b: str = "B"
    status: str = "ok"
    reason: str | None = None
    value_a: float | None = None
    value_b: float | None = None
    difference: float | None = None
    ci: tuple[float, float] | None = None
    level: float = 0.95
    p_value: float | None = None
    p_adjusted: float | None = None  # Holm-adjusted within `family` (None: not part of a family)
    family: str | None = None
    test: str = ""
    resamples: int = 0  # bootstrap resamples behind the interval
    n_clips: int = 0  # clips both systems scored (the pairs)
    skipped_a: int = 0  # clips only A could not score
    skipped_b: int = 0  # clips only B could not score (clips neither scored count in both)
    frames: tuple[int, int, int] | None = None  # set metrics: embedding frames (reference, A, B)
    sign_flip_share: float | None = None
    shift: float | None = None  # set metrics: mean of the resampled differences − the estimate
    seconds: float | None = None  # compute time (set metrics; not written to result files)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.difference is not None

    @property
    def p(self) -> float | None:
        """The p-value the mark is read from: Holm-adjusted within a family, raw otherwise."""
        return self.p_adjusted if self.p_adjusted is not None else self.p_value

    @property
    def mark(self) -> str:
        return mark(self.p)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("seconds")
        out["ci"] = list(self.ci) if self.ci is not None else None
        out["frames"] = list(self.frames) if self.frames is not None else None
        out["mark"] = self.mark
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("ci", "frames"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        return cls(**fields)


def not_computed(metric: str, kind: str, reason: str, a: str = "A", b: str = "B") -> Comparison:
    return Comparison(metric, kind, a, b, status=NOT_COMPUTED, reason=reason)


def mark(p: float | None) -> str:
    """The significance mark of a p-value (see the module docstring); "" when not significant or absent."""
    if p is None or not np.isfinite(p):
        return ""
    for threshold, text in MARKS:
        if p < threshold:
            return text
    return ""


def _values(x: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in x], dtype=np.float64)


def bootstrap_ci_rows(d: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> np.ndarray | None:
    """Percentile intervals [S, 2] of the mean of each row of d [S, n] (one seeded resample shared by all
    rows: row s is one comparison's differences). None when n < 2 or n_boot < 1."""
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    n = d.shape[1]
    if n < 2 or n_boot < 1:
        return None
    idx = resample_indices(n, n_boot, seed)
    out = np.empty((d.shape[0], 2))
    for s, row in enumerate(d):
        out[s] = percentile_ci(row[idx].mean(axis=1), level)
    return out


def _sign_blocks(n: int, n_perm: int, rng: np.random.Generator) -> tuple[Iterator[np.ndarray], bool]:
    """(blocks of sign patterns [P, n], exact): all 2^n patterns in one block when 2^n ≤ n_perm, else n_perm
    random patterns drawn block by block (memory stays bounded for thousands of clips)."""
    if n <= 20 and 2**n <= n_perm:
        return iter([np.array(list(itertools.product((1.0, -1.0), repeat=n)))]), True
    sizes = [min(PERM_BLOCK, n_perm - start) for start in range(0, n_perm, PERM_BLOCK)]
    return (rng.choice((-1.0, 1.0), size=(size, n)) for size in sizes), False


def sign_flip_pvalues(d: np.ndarray, n_perm: int = N_PERM, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Two-sided sign-flip permutation p-values of "mean difference = 0" for each row of d [S, n]; returns
    (p [S], exact). Rows share the sign patterns. A row of zeros gets p = 1."""
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    n = d.shape[1]
    if n < 1:
        raise ValueError("a permutation test needs at least one paired clip")
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the bootstrap uses `seed`
    blocks, exact = _sign_blocks(n, n_perm, rng)
    observed = np.abs(d.mean(axis=1))
    tol = 1e-12 * np.maximum(np.abs(d).max(axis=1), 1e-300)  # ties within rounding count as ties
    hits, total = np.zeros(d.shape[0]), 0
    for signs in blocks:
        hits += (np.abs(signs @ d.T) / n >= observed - tol).sum(axis=0)  # null statistics [P, S]
        total += len(signs)
    p = hits / total if exact else (hits + 1.0) / (total + 1.0)
    return np.minimum(p, 1.0), exact


def paired_difference(
    a: Sequence[float | None],
    b: Sequence[float | None],
    metric: str = "",
    kind: str = "per-clip",
    labels: tuple[str, str] = ("A", "B"),
    n_boot: int = 1000,
    n_perm: int = N_PERM,
    seed: int = 0,
    level: float = 0.95,
) -> Comparison:
    """Mean difference A − B over the clips both scored (None or NaN: not scored), with its paired bootstrap
    interval and sign-flip permutation p-value. `a[i]` and `b[i]` must be the same clip."""
    x, y = _values(a), _values(b)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.size} vs {y.size}")
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    base = Comparison(
        metric,
        kind,
        *labels,
        level=level,
        n_clips=n,
        skipped_a=int((~np.isfinite(x)).sum()),
        skipped_b=int((~np.isfinite(y)).sum()),
    )
    if n < 2:
        base.status, base.reason = NOT_COMPUTED, f"{n} clip(s) scored by both systems (need 2)"
        return base
    d = x[both] - y[both]
    ci = bootstrap_ci_rows(d, n_boot, seed, level)
    p, exact = sign_flip_pvalues(d, n_perm, seed)
    base.value_a, base.value_b = float(x[both].mean()), float(y[both].mean())
    base.difference = float(d.mean())
    base.ci = (float(ci[0, 0]), float(ci[0, 1])) if ci is not None else None
    base.resamples = n_boot
    base.p_value = float(p[0])
    base.test = (
        f"paired sign-flip permutation, exact over 2^{n} sign patterns"
        if exact
        else f"paired sign-flip permutation, {n_perm} random sign patterns"
    )
    return base


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family = the entries that are not None; None stays None).

    Sorted ascending, p_(i) becomes max_{j ≤ i} min(1, (m − j + 1) p_(j)); rejecting adjusted p < α controls
    the family-wise error rate at α under any dependence between the tests."""
    present = [(i, float(p)) for i, p in enumerate(p_values) if p is not None and np.isfinite(p)]
    out: list[float | None] = [None] * len(p_values)
    m = len(present)
    running = 0.0
    for rank, (i, p) in enumerate(sorted(present, key=lambda t: t[1])):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def adjust_family(comparisons: Sequence[Comparison], family: str) -> None:
    """Holm-correct the computed comparisons of one family in place and name the family on each."""
    members = [c for c in comparisons if c.ok and c.p_value is not None]
    for c, adjusted in zip(members, holm([c.p_value for c in members])):
        c.p_adjusted, c.family = adjusted, f"{family} (Holm, {len(members)} tests)"
