"""The consistency objective on problems whose consistency function is known exactly.

The project's own `Objective` (σ sampling, Δt schedule, weighting), `consistency_distance` (shared noise,
stop-gradient teacher), `edm.consistency_output` (c_skip/c_out, the σ_min boundary), `NoiseEmbedding` and
`EMA` train a small pointwise network with an oracle encoder (the latent is given). After 2,000 steps
(batch 16, Adam 1e-3) the one-step generation f(80·n, 80) is compared with the exact consistency function:
- gauss: x ~ N(μ, s²) per dimension; f(x, σ) = μ + (x − μ)·√(s² + σ_min²)/√(s² + σ²);
- delta: K fixed vectors, the latent names one; f(x, σ) = v + (x − v)·σ_min/σ;
- sign: x = a ⊙ (±1), the latent is a (the magnitude, not the sign — audio's magnitude/phase in miniature);
  the PF-ODE keeps the sign, so f(x, σ) = a ⊙ sign(x); a denoiser at σ_max returns the mean, 0.
err1 is the RMS error over the RMS of the exact answer (0 exact; 1 for a silent output). Thresholds sit
above the errors measured over three seeds (sign 0.22–0.26, delta 0.18–0.21, gauss 0.13–0.23, measured
2026-12-07 on 2 cores); a teacher with its own noise, or plain denoising, gives ≈ 1.0 on `sign`.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from m2l2 import edm
from m2l2.consistency import Objective, consistency_distance
from m2l2.layers import NoiseEmbedding
from m2l2.training.trainer import EMA

DIM, VECTORS, STEPS, BATCH = 16, 8, 2000, 16
MU, STD = 0.3, 0.5


class PointwiseNet(nn.Module):
    """f(x, σ | latent) per dimension: an MLP (3 × 128, SiLU, zero-initialised output) of c_in·x, the
    latent's value and the noise embedding, wrapped by the project's c_skip/c_out."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.emb = NoiseEmbedding(64, 32)
        self.net = nn.Sequential(
            nn.Linear(2 + 32, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
            nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        b, d = x.shape
        s = sigma.view(b, 1)
        emb = self.emb(sigma.view(b)).view(b, 1, -1).expand(b, d, -1)
        raw = self.net(torch.cat([(edm.c_in(s) * x)[..., None], latent[..., None], emb], -1))[..., 0]
        return edm.consistency_output(x, s, raw)


def make_problem(name: str, seed: int):
    """(draw(n) → (x, latent), exact(x_σ, σ, latent) → f) for one of the three problems."""
    g = torch.Generator().manual_seed(100 + seed)
    if name == "gauss":
        def draw(n):
            return MU + STD * torch.randn(n, DIM, generator=g), torch.zeros(n, DIM)

        scale = math.sqrt(STD**2 + edm.SIGMA_MIN**2)
        return draw, lambda xs, s, lat: MU + (xs - MU) * scale / torch.sqrt(STD**2 + s**2)
    table = torch.rand(VECTORS, DIM, generator=g) * 0.8 + 0.2
    if name == "delta":
        table = table * torch.sign(torch.randn(VECTORS, DIM, generator=g))

        def draw(n):
            v = table[torch.randint(VECTORS, (n,), generator=g)]
            return v, v

        return draw, lambda xs, s, lat: lat + (xs - lat) * edm.SIGMA_MIN / s

    def draw(n):
        a = table[torch.randint(VECTORS, (n,), generator=g)]
        return a * torch.sign(torch.randn(n, DIM, generator=g)), a

    return draw, lambda xs, s, lat: lat * torch.sign(xs)


def _call(net, xn, s, latent, shift=None):
    return net(xn if shift is None else xn + s.view(-1, 1) * shift, s, latent)


def train_and_score(name: str, objective: Objective, seed: int = 0, own_teacher_noise: bool = False) -> dict:
    """Train with the project's objective and EMA; score the EMA's one-step generation at σ_max."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    draw, exact = make_problem(name, seed)
    net = PointwiseNet()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    ema = EMA(net, 0.999)
    for step in range(STEPS):
        x, lat = draw(BATCH)
        s_hi, s_lo, _ = objective.levels((BATCH,), step, STEPS, g)
        noise = torch.randn(x.shape, generator=g)
        student = functools.partial(_call, net, latent=lat)
        teacher = student
        if own_teacher_noise:  # a defect on purpose: the teacher draws its own noise
            teacher = functools.partial(_call, net, latent=lat, shift=torch.randn(x.shape, generator=g) - noise)
        weighted, _, _ = consistency_distance(student, teacher, x, s_hi, s_lo, noise, objective.weighting)
        opt.zero_grad()
        weighted.mean().backward()
        opt.step()
        ema.update(net, step + 1)
    x, lat = draw(2048)
    xs = edm.SIGMA_MAX * torch.randn(x.shape, generator=torch.Generator().manual_seed(999))
    sigma = torch.full((len(x),), edm.SIGMA_MAX)
    want = exact(xs, sigma.view(-1, 1), lat)
    with torch.no_grad(), ema.applied(net):
        got, other = net(xs, sigma, lat), net(xs, sigma, lat.roll(1, 0))

    def rms(t):
        return float(t.pow(2).mean().sqrt())

    return {"err1": rms(got - want) / rms(want), "err_other": rms(other - want) / rms(want),
            "rms_ratio": rms(got) / rms(want)}


@pytest.fixture(autouse=True)
def one_thread():
    """A pointwise network on 256 rows: one thread is fastest and leaves the other core alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_upstream_objective_learns_the_gaussian_consistency_function():
    scores = train_and_score("gauss", Objective())
    assert scores["err1"] < 0.30, scores
    assert 0.7 < scores["rms_ratio"] < 1.2, scores


def test_upstream_objective_learns_the_vector_named_by_the_latent():
    scores = train_and_score("delta", Objective())
    assert scores["err1"] < 0.30, scores
    assert scores["err_other"] > 0.9, scores  # another item's latent names another vector


def test_upstream_objective_generates_a_sample_where_the_latent_holds_only_the_magnitude():
    scores = train_and_score("sign", Objective())
    assert scores["err1"] < 0.35, scores
    assert scores["err_other"] > scores["err1"] + 0.15, scores  # the magnitudes come from the latent
    assert 0.75 < scores["rms_ratio"] < 1.2, scores  # at the data's level, not the quiet mean


def test_plain_denoising_returns_the_quiet_mean_on_the_sign_problem():
    # Δt = 1: the teacher is the data, so f(·, σ_max) learns E[x | a] = 0, one-step generation is silent.
    scores = train_and_score("sign", Objective(delta_t_range=(1.0, 1.0)))
    assert scores["err1"] > 0.9 and scores["rms_ratio"] < 0.3, scores


def test_a_teacher_with_its_own_noise_does_not_learn_the_sign_problem():
    scores = train_and_score("sign", Objective(), own_teacher_noise=True)
    assert scores["err1"] > 0.9, scores
