"""Consistency training of Music2Latent2 on two consecutive chunks (Sec. IV-3).

One step: encode and decode both chunks once; draw independent noise indices t_left, t_right;
evaluate the consistency model at the higher noise level σ(t) (student) and at the lower level
σ(t − Δt) with the same noise and stop-gradient (teacher, the same network); pseudo-Huber distance
weighted by 1/Δσ per chunk. Models with a magnitude head add `magnitude_weight` times the pseudo-Huber
distance of its prediction to the chunk's magnitude spectrogram (not in the paper; see ModelConfig).
"""

from __future__ import annotations

import torch

from m2l2 import edm, spectral


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
    delta_t_range: tuple[float, float] = edm.DELTA_T_RANGE,
    magnitude_weight: float = 1.0,
    t_max_fraction: float = 0.0,
    weighting: str = "delta_sigma",
    anchor_fraction: float = 0.0,
    anchor_only_latents: bool = False,
    output_magnitude_weight: float = 0.0,
    detach_cross: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch of waveforms [B, C, model.train_samples] and statistics for the training log.

    `anchor_fraction` of the chunks use Δt = 1 (their teacher is the clean chunk, plain denoising) while
    the rest follow the Δt schedule: a mixed objective that keeps the σ_min anchor in every batch. With
    `anchor_only_latents`, the encoder and decoder learn only from the anchored chunks (and the magnitude
    head): the other chunks' student sees their cross-connections with the gradient stopped.
    `output_magnitude_weight` adds that times the pseudo-Huber distance of the student's magnitude spectrogram
    to the clean chunk's (not in the paper): the phase of a chunk cannot be predicted from its latents, so a
    regression onto the complex values returns a near-silent mean at high σ, and the little it gains from
    the latents gives them almost no gradient; the magnitude can be predicted, and this term rewards it.
    With `detach_cross` no term of the consistency model reaches the encoder and decoder: they learn from the
    magnitude head alone (a regression that keeps the latents apart) and the consistency model learns to
    read the features they give (not in the paper; the summary latents collapsed when the output
    magnitude term trained them, results/checkpoints/GATES.md)."""
    cfg = model.config
    if audio.shape[-1] != model.train_samples:
        raise ValueError(f"training audio must have {model.train_samples} samples, got {audio.shape[-1]}")
    device = audio.device
    x = split_chunks(spectral.to_spec(audio), cfg.chunk_frames)  # [B, 2, 2C, F, frames]
    b = x.shape[0]
    if detach_cross and model.decoder.magnitude_head is None:
        raise ValueError("detach_cross needs a magnitude head (model.magnitude_head): nothing else trains the encoder")

    pre = model.encoder.pre_tanh(x.flatten(0, 1))  # both chunks through the encoder at once
    latents = torch.tanh(pre)
    cross = model.decoder(latents)  # [B·2, ...] chunk-major per item

    t_hi = edm.sample_t((b, 2), generator=generator, max_fraction=t_max_fraction).to(device)
    dt = edm.delta_t(step, total_steps, delta_t_range)
    t_lo = (t_hi - dt).clamp_min(0.0)
    student_cross = cross
    if anchor_fraction > 0:
        anchored = torch.rand((b, 2), generator=generator).to(device) < anchor_fraction
        t_lo = torch.where(anchored, torch.zeros_like(t_lo), t_lo)
        if anchor_only_latents:
            keep = anchored.flatten()  # chunk-major per item, as `cross`
            student_cross = [torch.where(keep.view(-1, *[1] * (c.ndim - 1)), c, c.detach()) for c in cross]
    if detach_cross:
        student_cross = [c.detach() for c in cross]
    s_hi, s_lo = edm.sigma_of_t(t_hi), edm.sigma_of_t(t_lo)
    noise = torch.randn(x.shape, generator=generator).to(device)
    shape = (b, 2, 1, 1, 1)

    student = model.consistency(x + s_hi.view(shape) * noise, s_hi, student_cross)
    with torch.no_grad():
        teacher = model.consistency(x + s_lo.view(shape) * noise, s_lo, cross)

    dist = edm.pseudo_huber(student.flatten(0, 1), teacher.flatten(0, 1)).view(b, 2)
    weight = edm.consistency_weight(s_hi, s_lo, weighting)
    loss = (dist * weight).mean()
    stats = {}
    if output_magnitude_weight > 0 or model.decoder.magnitude_head is not None:
        magnitude = spectral.magnitude(x.flatten(0, 1))  # the clean chunks', target of both magnitude terms
    if output_magnitude_weight > 0:
        out_mag = edm.pseudo_huber(spectral.magnitude(student.flatten(0, 1)), magnitude)
        loss = loss + output_magnitude_weight * out_mag.mean()
        stats["output_magnitude_loss"] = float(out_mag.detach().mean())
    if model.decoder.magnitude_head is not None:
        magnitude_loss = edm.pseudo_huber(model.decoder.magnitude(cross), magnitude).mean()
        loss = loss + magnitude_weight * magnitude_loss
        stats["magnitude_loss"] = float(magnitude_loss.detach())
    stats |= {
        "loss": float(loss.detach()),
        "distance": float(dist.detach().mean()),
        "sigma_hi_mean": float(s_hi.mean()),
        "delta_t": dt,
        "pre_tanh_abs_mean": float(pre.detach().abs().mean()),
        "tanh_saturated": float((latents.detach().abs() > 0.99).float().mean()),
    }
    return loss, stats
