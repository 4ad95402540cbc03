"""EDM / consistency-model constants and schedules of Music2Latent (Karras et al. parameterisation)."""

from __future__ import annotations

import math

import torch

SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
SIGMA_DATA = 0.5
RHO = 7.0
P_MEAN = -1.1  # lognormal σ sampling
P_STD = 2.0
DELTA_T0 = 0.1  # consistency step at the start of training
STEP_EXPONENT = 3.0  # e_K: Δt shrinks from 0.1 to 0.1**3 = 0.001
DELTA_T_RANGE = (DELTA_T0, DELTA_T0**STEP_EXPONENT)  # upstream (start, end) of the Δt schedule
HUBER_C = 0.00054  # pseudo-Huber c per sqrt(elements of one sample)


def c_skip(sigma: torch.Tensor) -> torch.Tensor:
    return SIGMA_DATA**2 / ((sigma - SIGMA_MIN) ** 2 + SIGMA_DATA**2)


def c_out(sigma: torch.Tensor) -> torch.Tensor:
    return SIGMA_DATA * (sigma - SIGMA_MIN) / torch.sqrt(SIGMA_DATA**2 + sigma**2)


def c_in(sigma: torch.Tensor) -> torch.Tensor:
    return 1.0 / torch.sqrt(sigma**2 + SIGMA_DATA**2)


def consistency_output(x: torch.Tensor, sigma: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """f(x, σ) = c_skip(σ)·x + c_out(σ)·F from the network's raw output F: f(x, σ_min) = x exactly (the
    boundary condition of a consistency model). `sigma` broadcasts against `x`."""
    return c_skip(sigma) * x + c_out(sigma) * raw


def sigma_of_t(t: torch.Tensor) -> torch.Tensor:
    """Continuous index t ∈ [0, 1] → σ on the ρ-warped EDM grid (σ_min at 0, σ_max at 1)."""
    lo, hi = SIGMA_MIN ** (1 / RHO), SIGMA_MAX ** (1 / RHO)
    return (lo + t * (hi - lo)) ** RHO


def t_of_sigma(sigma: torch.Tensor) -> torch.Tensor:
    lo, hi = SIGMA_MIN ** (1 / RHO), SIGMA_MAX ** (1 / RHO)
    return (sigma ** (1 / RHO) - lo) / (hi - lo)


def delta_t(step: int, total_steps: int, delta_t_range: tuple[float, float] = DELTA_T_RANGE) -> float:
    """Exponential consistency step schedule from `start` to `end`: Δt_k = start·(end/start)^{k/K}.

    With upstream's (0.1, 0.001) this is Δt_k = Δt_0^{(k/K)(e_K − 1) + 1}. A Δt of 1 is plain denoising
    (t − Δt clamps to 0, where the teacher is the clean input): the first stage of Easy Consistency Tuning
    (Geng et al., 2024)."""
    start, end = delta_t_range
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return start * (end / start) ** progress


def ect_teacher_sigma(sigma: torch.Tensor, step: int, total_steps: int, q: float, stages: int) -> torch.Tensor:
    """Easy Consistency Tuning's relative step (Geng et al., 2024, Eq. 9 with their n(t)): the teacher sits at
    r = σ·(1 − (1 + 8·sigmoid(−σ)) / q^(s+1)) for stage s = ⌊stages·step/total⌋ (clamped at 0, where the
    teacher is the data). The gap shrinks by q per stage and is relatively larger at small σ."""
    stage = min(int(stages * step / max(total_steps, 1)), stages - 1)
    ratio = 1.0 - (1.0 + 8.0 * torch.sigmoid(-sigma)) / q ** (stage + 1)
    return (sigma * ratio).clamp_min(0.0)


_T_GRID = torch.linspace(0.0, 1.0, 10_000, dtype=torch.float64)
_LOGN = torch.log(sigma_of_t(_T_GRID).clamp_min(1e-30))


def lognormal_t_weights(p_mean: float = P_MEAN, p_std: float = P_STD) -> torch.Tensor:
    """Weights of the t grid: the lognormal pdf of σ(t) (upstream's P_mean −1.1, P_std 2.0). A higher P_mean
    or a wider P_std trains the high noise levels, where one-step decoding starts, more often."""
    return torch.exp(-0.5 * ((_LOGN - p_mean) / p_std) ** 2) / (p_std * math.sqrt(2 * math.pi))


_T_WEIGHTS = lognormal_t_weights()


def sample_t(
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    max_fraction: float = 0.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Training noise indices: a grid of t weighted by the lognormal pdf of σ(t), plus uniform jitter.

    With `max_fraction` > 0, that share of the indices is t = 1 (σ_max). Only valid for plain denoising
    (Δt = 1, the teacher is the data): with a smaller Δt the teacher of those draws is the network at a level
    that is itself hardly ever trained, a self-referential link that diverges (TrainConfig refuses it)."""
    n = math.prod(shape)
    grid_weights = _T_WEIGHTS if weights is None else weights
    idx = torch.multinomial(grid_weights.float(), n, replacement=True, generator=generator)
    jitter = torch.rand(n, generator=generator, dtype=torch.float64) / (len(_T_GRID) - 1)
    t = (_T_GRID[idx] + jitter).clamp(0.0, 1.0).float()
    if max_fraction > 0:
        t = torch.where(torch.rand(n, generator=generator) < max_fraction, torch.ones(n), t)
    return t.reshape(shape)


WEIGHTINGS = ("delta_sigma", "f_space")


def consistency_weight(sigma_hi: torch.Tensor, sigma_lo: torch.Tensor, kind: str = "delta_sigma") -> torch.Tensor:
    """Per-sample weight of the student–teacher distance.

    "delta_sigma": 1/(σ_hi − σ_lo), upstream Music2Latent's. In the units of the network output F
    (f = c_skip·x + c_out·F) it weighs σ_max about 60× less than σ ≈ 0.3 at Δt = 0.001 and 160× less at
    Δt = 1, and one-step decoding starts at σ_max: at CPU budgets the high noise levels then do not train.
    "f_space": σ_hi / ((σ_hi − σ_lo)·c_out(σ_hi)), which makes the weight in F units nearly flat over σ
    (EDM's weighting at Δt = 1); c_out is floored at 0.01 so σ next to σ_min cannot take over."""
    delta = (sigma_hi - sigma_lo).clamp_min(1e-12)
    if kind == "delta_sigma":
        return 1.0 / delta
    if kind == "f_space":
        return sigma_hi / (delta * c_out(sigma_hi).clamp_min(0.01))
    raise ValueError(f"unknown consistency weighting {kind!r}; known: {WEIGHTINGS}")


def pseudo_huber(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample pseudo-Huber distance √(‖x−y‖² + c²) − c with c = 0.00054·√(elements per sample)."""
    diff = (x - y).flatten(1).float()
    c = HUBER_C * math.sqrt(diff.shape[1])
    return torch.sqrt(diff.pow(2).sum(1) + c**2) - c
