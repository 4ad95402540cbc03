"""Consistency training of Music2Latent2 on two consecutive chunks (Sec. IV-3).

One step: encode and decode both chunks once; draw independent noise levels for the two chunks; evaluate the
consistency model at the higher level σ_hi (student) and at the lower level σ_lo with the same noise, the same
randomness (dropout masks) and stop-gradient (teacher, the same network); pseudo-Huber distance weighted
per chunk. `Objective` says how the levels are drawn and weighted; `consistency_distance` is the loss of any
consistency function f(x, σ), so the closed-form tests drive the same code as training. Models with a
magnitude head add `magnitude_weight` times the pseudo-Huber distance of its prediction to the chunk's
magnitude spectrogram (not in the paper; see ModelConfig).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from m2l2 import edm, spectral

SCHEDULES = ("t_index", "ect")
ConsistencyFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """How student and teacher noise levels are drawn and how their distance is weighted.

    schedule "t_index": the teacher sits Δt lower on the ρ-warped t index, Δt shrinking exponentially over
    the run from `delta_t_range[0]` to `[1]` (upstream's (0.1, 0.001); Δt = 1 is plain denoising).
    schedule "ect": Easy Consistency Tuning's relative step (edm.ect_teacher_sigma) with `ect_q`, `ect_stages`.
    `t_max_fraction` puts that share of the student draws at σ_max; it is only grounded when the teacher is
    the data (Δt = 1), so it is refused otherwise. `p_mean`, `p_std`: the lognormal of σ."""

    delta_t_range: tuple[float, float] = edm.DELTA_T_RANGE
    schedule: str = "t_index"
    ect_q: float = 256.0
    ect_stages: int = 8
    weighting: str = "delta_sigma"
    t_max_fraction: float = 0.0
    p_mean: float = edm.P_MEAN
    p_std: float = edm.P_STD

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown Δt schedule {self.schedule!r}; known: {SCHEDULES}")
        if self.t_max_fraction > 0 and not self.plain_denoising:
            raise ValueError(
                "t_max_fraction > 0 needs Δt = 1 throughout (the teacher of a σ_max draw must be the data); "
                "with a smaller step its teacher is an untrained level of the same network"
            )

    @property
    def plain_denoising(self) -> bool:
        return self.schedule == "t_index" and min(self.delta_t_range) >= 1.0

    def levels(
        self, shape: tuple[int, ...], step: int, total_steps: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(σ_hi, σ_lo, Δt) for `shape` training items at optimizer step `step`; Δt is NaN for "ect"."""
        weights = None
        if (self.p_mean, self.p_std) != (edm.P_MEAN, edm.P_STD):
            weights = edm.lognormal_t_weights(self.p_mean, self.p_std)
        t_hi = edm.sample_t(shape, generator=generator, max_fraction=self.t_max_fraction, weights=weights)
        s_hi = edm.sigma_of_t(t_hi)
        if self.schedule == "ect":
            return s_hi, edm.ect_teacher_sigma(s_hi, step, total_steps, self.ect_q, self.ect_stages), float("nan")
        dt = edm.delta_t(step, total_steps, self.delta_t_range)
        return s_hi, edm.sigma_of_t((t_hi - dt).clamp_min(0.0)), dt


def consistency_distance(
    student: ConsistencyFn,
    teacher: ConsistencyFn,
    x: torch.Tensor,
    sigma_hi: torch.Tensor,
    sigma_lo: torch.Tensor,
    noise: torch.Tensor,
    weighting: str = "delta_sigma",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted per-item distance between f(x + σ_hi·n, σ_hi) and stop-grad f(x + σ_lo·n, σ_lo), the
    unweighted distance and the student's output. `sigma_*` have the shape of x's leading dims (one level per item); the teacher
    replays the student's random draws (dropout masks), as iCT requires, by running from the same RNG state."""
    view = sigma_hi.shape + (1,) * (x.dim() - sigma_hi.dim())
    devices = [x.device.index] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        out_hi = student(x + sigma_hi.view(view) * noise, sigma_hi)
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        out_lo = teacher(x + sigma_lo.view(view) * noise, sigma_lo)
    flat = sigma_hi.dim()
    dist = edm.pseudo_huber(out_hi.flatten(0, flat - 1), out_lo.flatten(0, flat - 1)).view(sigma_hi.shape)
    return dist * edm.consistency_weight(sigma_hi, sigma_lo, weighting), dist, out_hi


def split_chunks(spec: torch.Tensor, chunk_frames: int) -> torch.Tensor:
    """[B, 2C, F, 2·chunk_frames] → [B, 2, 2C, F, chunk_frames] (left chunk first)."""
    b, c2, f, t = spec.shape
    if t != 2 * chunk_frames:
        raise ValueError(f"expected {2 * chunk_frames} frames, got {t}")
    return spec.reshape(b, c2, f, 2, chunk_frames).permute(0, 3, 1, 2, 4)


def training_loss(
    model,
    audio: torch.Tensor,
    step: int,
    total_steps: int,
    generator: torch.Generator | None = None,
    objective: Objective = Objective(),
    magnitude_weight: float = 1.0,
    output_magnitude_weight: float = 0.0,
    detach_cross: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch of waveforms [B, C, model.train_samples] and statistics for the training log.

    `output_magnitude_weight` adds that times the pseudo-Huber distance of the student's magnitude spectrogram
    to the clean chunk's (not in the paper): the phase of a chunk cannot be predicted from its latents, the
    magnitude can. With `detach_cross` no term of the consistency model reaches the encoder and decoder: they
    learn from the magnitude head alone and the consistency model learns to read the features they give
    (not in the paper; the recipe of the committed `tiny` denoisers, docs/training-investigation.md)."""
    if audio.shape[-1] != model.train_samples:
        raise ValueError(f"training audio must have {model.train_samples} samples, got {audio.shape[-1]}")
    if detach_cross and model.decoder.magnitude_head is None:
        raise ValueError("detach_cross needs a magnitude head (model.magnitude_head): nothing else trains the encoder")
    device = audio.device
    x = split_chunks(spectral.to_spec(audio), model.config.chunk_frames)  # [B, 2, 2C, F, frames]
    pre = model.encoder.pre_tanh(x.flatten(0, 1))  # both chunks through the encoder at once
    latents = torch.tanh(pre)
    cross = model.decoder(latents)  # [B·2, ...] chunk-major per item
    student_cross = [c.detach() for c in cross] if detach_cross else cross

    s_hi, s_lo, dt = objective.levels((x.shape[0], 2), step, total_steps, generator)
    s_hi, s_lo = s_hi.to(device), s_lo.to(device)
    noise = torch.randn(x.shape, generator=generator).to(device)
    weighted, dist, student = consistency_distance(
        lambda xn, s: model.consistency(xn, s, student_cross),
        lambda xn, s: model.consistency(xn, s, cross),
        x, s_hi, s_lo, noise, objective.weighting,
    )
    loss = weighted.mean()
    stats = {
        "distance": float(dist.detach().mean()),
        "sigma_hi_mean": float(s_hi.mean()),
        "delta_t": dt,
        "pre_tanh_abs_mean": float(pre.detach().abs().mean()),
        "tanh_saturated": float((latents.detach().abs() > 0.99).float().mean()),
    }
    loss = loss + _magnitude_terms(model, x, cross, student, stats, magnitude_weight, output_magnitude_weight)
    stats["loss"] = float(loss.detach())
    return loss, stats


def _magnitude_terms(model, x, cross, student, stats, magnitude_weight, output_magnitude_weight):
    """The magnitude-head loss and the output-magnitude loss (both optional, not in the paper)."""
    head = model.decoder.magnitude_head is not None
    if not head and output_magnitude_weight <= 0:
        return 0.0
    magnitude = spectral.magnitude(x.flatten(0, 1))  # the clean chunks', target of both terms
    total = 0.0
    if output_magnitude_weight > 0:
        out_mag = edm.pseudo_huber(spectral.magnitude(student.flatten(0, 1)), magnitude)
        total = total + output_magnitude_weight * out_mag.mean()
        stats["output_magnitude_loss"] = float(out_mag.detach().mean())
    if head:
        magnitude_loss = edm.pseudo_huber(model.decoder.magnitude(cross), magnitude).mean()
        total = total + magnitude_weight * magnitude_loss
        stats["magnitude_loss"] = float(magnitude_loss.detach())
    return total
