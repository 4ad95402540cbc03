"""How latents become audio: one function per decoding algorithm, and `Decoding`, the options that select one.

Every algorithm turns latents [B, T, L, D] into the final spectrogram of each chunk and yields it with the
chunk's index, in chunk order; `decode_blocks` overlap-adds them into waveform blocks as they complete (memory
independent of the length: what `m2l2 decode` and `m2l2 reconstruct` write), `decode` returns the waveform.

- `autoregressive`: the paper's two-step decoding (Music2Latent2, Sec. IV-4).
- `parallel`: every chunk alone, then every chunk with its left neighbour (CoDiCodec's idea; not the paper).
- `independent`: every chunk alone from pure noise, no context (the seams experiment's reference).
- `ode_euler`: the consistency network used as a denoiser in EDM's deterministic Euler sampler (Karras et
  al. 2022, Alg. 1 without the second-order step): how a Δt = 1 denoiser is judged as a generator.
Multi-step consistency sampling (Song et al. 2023, Alg. 1) is `steps` > 1 in the first three.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from m2l2 import edm, spectral
from m2l2.errors import M2L2Error

DEFAULT_SIGMA_COND = 0.4  # noise level of the re-decoded previous chunk: the paper's best (its Fig. 3)
MODES = ("autoregressive", "parallel", "independent", "ode")
Chunks = Iterator[tuple[torch.Tensor, int]]  # (final spectrogram of a chunk [B, 2C, F, frames], its index)


@dataclass(frozen=True)
class Decoding:
    """The options of one decoding. `sigma_cond`: noise level of the re-noised previous chunk; `steps`:
    consistency sampling steps per chunk (ODE levels for "ode"); `redecode_previous` False is one-step
    decoding (each chunk keeps its first version); `max_batch`: chunks per batched pass."""

    mode: str = "autoregressive"
    sigma_cond: float = DEFAULT_SIGMA_COND
    steps: int = 1
    redecode_previous: bool = True
    max_batch: int = 8

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise M2L2Error(
                f"unknown decoding mode {self.mode!r} (option mode): use one of {', '.join(MODES)}"
            )
        if self.steps < 1:
            raise M2L2Error(f"{self.steps} decoding steps (option steps): give at least 1")
        if self.max_batch < 1:
            raise M2L2Error(f"max_batch of {self.max_batch} chunks (option max_batch): give at least 1")

    def replace(self, **changes) -> Decoding:
        return dataclasses.replace(self, **changes)


@torch.no_grad()
def decode(model, latents: torch.Tensor, decoding: Decoding = Decoding(), length: int | None = None,
           generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """Latents [B, T, L, D] → audio [B, C, length] at 44.1 kHz (default length: T chunks) with `decoding`."""
    latents = _checked(model, latents)
    if decoding.mode == "independent":
        return independent(model, latents, decoding, length, generator)
    return torch.cat(list(_blocks(model, latents, decoding, length, generator, progress)), dim=-1)


def decode_blocks(model, latents: torch.Tensor, decoding: Decoding = Decoding(), length: int | None = None,
                  generator: torch.Generator | None = None, progress: bool = False) -> Iterator[torch.Tensor]:
    """`decode`'s waveform as consecutive blocks [B, C, n] (about a chunk each), each handed out as soon as
    its chunk and the next are decoded: their concatenation is exactly `decode`'s output. Bad latents or
    options are refused here, before the first block is asked for."""
    latents = _checked(model, latents)
    if decoding.mode == "independent":
        raise M2L2Error(
            "independent-chunk decoding cannot hand out blocks (mode 'independent'): use decode(), which "
            "returns the whole waveforms"
        )
    return _blocks(model, latents, decoding, length, generator, progress)


@torch.no_grad()
def _blocks(model, latents: torch.Tensor, decoding: Decoding, length: int | None, generator,
            progress: bool) -> Iterator[torch.Tensor]:
    """`decode_blocks` of checked latents: the overlap-add of the chunks `decoding`'s algorithm yields."""
    b, chunks = latents.shape[:2]
    frames = model.config.chunk_frames
    ola = spectral.StreamingOverlapAdd((b, model.config.channels), chunks * frames)
    start, stop = spectral.LEFT_PAD, spectral.LEFT_PAD + (chunks * model.chunk_samples if length is None else length)
    done = 0  # output samples handed to the overlap-add so far
    for spec, index in _chunks(model, latents, decoding, generator, progress):
        block = ola.add(spectral.from_rep(spec).cpu(), index * frames)
        if (part := _trim(block, done, start, stop)) is not None:
            yield part
        done += block.shape[-1]
    if (part := _trim(ola.finish(), done, start, stop)) is not None:
        yield part


def _checked(model, latents: torch.Tensor) -> torch.Tensor:
    cfg = model.config
    if latents.ndim == 3:
        latents = latents[None]
    if latents.ndim != 4 or tuple(latents.shape[2:]) != cfg.latent_shape:
        raise M2L2Error(
            f"latents must have shape [B, T, {cfg.latent_shape[0]}, {cfg.latent_shape[1]}], got "
            f"{tuple(latents.shape)} (latents argument): decode latents from this model's encode"
        )
    return latents.to(model.device, torch.float32)


def _chunks(model, latents, decoding: Decoding, generator, progress: bool) -> Chunks:
    """The final spectrogram of every chunk, in order, from the algorithm `decoding` names."""
    if decoding.mode == "ode":
        return ode_euler(model, latents, decoding.steps, generator)
    sampler = ConsistencySampler(model, latents.shape[0], decoding.steps, decoding.sigma_cond, generator)
    if decoding.mode == "parallel":
        return parallel(model, latents, sampler, decoding.redecode_previous, decoding.max_batch, progress)
    return autoregressive(model, latents, sampler, decoding.redecode_previous, progress)


def _trim(block: torch.Tensor, first: int, start: int, stop: int) -> torch.Tensor | None:
    """The part of `block` (output samples first, first + 1, ...) inside [start, stop), clamped to [-1, 1]."""
    lo, hi = max(start - first, 0), min(stop - first, block.shape[-1])
    return block[..., lo:hi].clamp_(-1.0, 1.0) if hi > lo else None


def autoregressive(model, latents, sampler: ConsistencySampler, redecode_previous: bool = True,
                   progress: bool = False) -> Chunks:
    """The paper's decoding: the first chunk alone from pure noise; each later chunk together with the
    previous one re-noised to σ_cond, whose new output replaces its first version (two-step decoding at no
    extra cost; `redecode_previous=False` keeps the first version: one-step decoding). Memory holds one
    chunk's decoder features at a time."""
    chunks = latents.shape[1]
    cross_prev = model.decoder(latents[:, 0])
    _, prev = sampler.run(None, cross_prev, *sampler.draw(first=True))
    for t in tqdm(range(1, chunks), desc="decoding chunks", disable=not progress, initial=1, total=chunks):
        cross_cur = model.decoder(latents[:, t])  # computed once per chunk, reused as cross_prev next step
        new_prev, current = sampler.run(prev, pair(cross_prev, cross_cur), *sampler.draw(first=False),
                                        last_only=not redecode_previous)
        yield (new_prev if redecode_previous else prev), t - 1
        prev, cross_prev = current, cross_cur
    yield prev, chunks - 1


def parallel(model, latents, sampler: ConsistencySampler, redecode_previous: bool = True,
             max_batch: int = 8, progress: bool = False) -> Chunks:
    """Every chunk first decoded alone, then each chunk t ≥ 1 with its left neighbour's first version
    re-noised to σ_cond (the autoregressive step, all pairs at once); chunk 0 is its re-decoded version from
    the pair (0, 1), or its first version with `redecode_previous=False`. Windows of `max_batch` chunks (at
    most 2·`max_batch` chunk evaluations at a time: flat memory for long audio). The noise is drawn per chunk
    in the autoregressive order, so up to two chunks decode exactly as autoregressively."""
    b, chunks = latents.shape[:2]
    left_first = left_cross = None  # the last chunk of the previous window: its first version, its features
    for i in tqdm(range(0, chunks, max_batch), desc="decoding chunk batches", disable=not progress):
        idx = range(i, min(i + max_batch, chunks))
        draws = [sampler.draw(first=t == 0) for t in idx]  # per chunk, in the autoregressive order
        cross = model.decoder(latents[:, i : i + len(idx)].flatten(0, 1))  # [b·w, ...] item-major
        _, first = sampler.run(None, cross, _stack_draws(draws, 0, sampler.steps), None, batch=b * len(idx))
        first = first.unflatten(0, (b, len(idx)))
        cross = [c.unflatten(0, (b, len(idx))) for c in cross]
        if i == 0 and (chunks == 1 or not redecode_previous):
            yield first[:, 0], 0
            if chunks == 1:
                return
        if i > 0:
            first = torch.cat([left_first, first], 1)
            cross = [torch.cat([lc, c], 1) for lc, c in zip(left_cross, cross)]
        yield from _pair_pass(sampler, b, i, idx, draws, first, cross, redecode_previous)
        left_first = first[:, -1:]
        left_cross = [c[:, -1:] for c in cross]


def _pair_pass(sampler, b, i, idx, draws, first, cross, redecode_previous) -> Chunks:
    """The second pass of `parallel` over one window: chunk t with its left neighbour t − 1."""
    pairs = [t for t in idx if t > 0]
    if not pairs:
        return
    off = 1 if i > 0 else 0  # position of chunk i in `first`/`cross`
    pos = [t - i + off for t in pairs]
    left = [p - 1 for p in pos]
    pair_cross = pair([c[:, left].flatten(0, 1) for c in cross], [c[:, pos].flatten(0, 1) for c in cross])
    prev = first[:, left].flatten(0, 1)
    pair_draws = [draws[t - i] for t in pairs]
    cur, prv = _stack_draws(pair_draws, 0, sampler.steps), _stack_draws(pair_draws, 1, sampler.steps)
    if pairs[0] == 1 and redecode_previous:  # chunk 0 has no left neighbour: its re-decoded version
        def pair01(t: torch.Tensor, per: int = 1) -> torch.Tensor:
            return t.unflatten(0, (b, -1, per))[:, 0].flatten(0, 1)

        new_prev, _ = sampler.run(pair01(prev), [pair01(c, 2) for c in pair_cross],
                                  [pair01(c) for c in cur], [pair01(c) for c in prv])
        yield new_prev, 0
    _, current = sampler.run(prev, pair_cross, cur, prv, batch=b * len(pairs), last_only=True)
    current = current.unflatten(0, (b, -1))
    for j, t in enumerate(pairs):
        yield current[:, j], t


def _stack_draws(draws, which: int, steps: int) -> list[torch.Tensor]:
    """Per step, the noise of every chunk in `draws` (0: current chunk, 1: re-noised left one), item-major."""
    return [torch.stack([d[which][k] for d in draws], 1).flatten(0, 1) for k in range(steps)]


def independent(model, latents, decoding: Decoding, length: int | None, generator) -> torch.Tensor:
    """Every chunk decoded alone from pure noise as a one-chunk item (first-chunk mode), `max_batch` chunks
    per pass, their waveforms concatenated without context: the reference against which the seams experiment
    measures what the previous chunk adds. Latents of batch 1 only."""
    if latents.shape[0] != 1:
        raise M2L2Error(
            f"independent-chunk decoding takes one item at a time, got {latents.shape[0]} (latents "
            "argument): pass latents [1, T, L, D], one item per call"
        )
    alone = latents[0][:, None]  # [T, 1, L, D]
    step = decoding.max_batch
    one_chunk = decoding.replace(mode="autoregressive")
    chunks = torch.cat([decode(model, alone[i : i + step], one_chunk, generator=generator)
                        for i in range(0, len(alone), step)])  # [T, C, chunk]
    return torch.cat(list(chunks), dim=-1)[None, ..., :length]


@torch.no_grad()
def ode_euler(model, latents: torch.Tensor, steps: int, generator) -> Chunks:
    """Every chunk alone, with the consistency network used as a denoiser D(x, σ) in the deterministic EDM
    Euler sampler over `steps` levels of the ρ = 7 grid, σ_max to σ_min, then to 0. A model trained as a pure
    denoiser (Δt = 1) returns the conditional mean from one step, near silent for unpredictable phase; the
    ODE turns it into a sample."""
    cfg = model.config
    b, chunks = latents.shape[:2]
    cross = model.decoder(latents.flatten(0, 1))
    levels = edm.sigma_of_t(torch.linspace(1.0, 0.0, steps)).tolist() + [0.0]  # the last step returns D
    shape = (b * chunks, 2 * cfg.channels, spectral.FREQ_BINS, cfg.chunk_frames)
    x = torch.randn(shape, generator=generator).to(model.device) * levels[0]
    for s, s_next in zip(levels[:-1], levels[1:]):
        sig = torch.full((len(x), 1), s, device=model.device)
        denoised = model.consistency(x[:, None], sig, cross)[:, 0]
        x = x + (s_next - s) * (x - denoised) / s
    yield from ((chunk, t) for t, chunk in enumerate(x.unflatten(0, (b, chunks)).unbind(1)))


def pair(prev: list[torch.Tensor], cur: list[torch.Tensor]) -> list[torch.Tensor]:
    """Cross-connections of (previous, current) chunk pairs, chunk-major within each item: [B·2, ...]."""
    return [torch.stack([p, c], 1).flatten(0, 1) for p, c in zip(prev, cur)]


class ConsistencySampler:
    """Consistency sampling of single chunks or (previous, current) pairs, shared by the decoding modes.

    The noise of a chunk is drawn by `draw` in one fixed order (per step: the current chunk, then the
    re-noised previous one), so that every mode sees the same noise for the same chunk.
    """

    def __init__(self, model, batch: int, steps: int, sigma_cond: float, generator):
        cfg = model.config
        self.model, self.b, self.steps, self.generator = model, batch, steps, generator
        self.shape = (batch, 2 * cfg.channels, spectral.FREQ_BINS, cfg.chunk_frames)
        self.levels = edm.sigma_of_t(torch.linspace(1.0, 0.0, steps + 1)[:-1]).tolist()
        self.s_cond = max(float(sigma_cond), edm.SIGMA_MIN)

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.shape, generator=self.generator, device="cpu").to(self.model.device)

    def draw(self, first: bool) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """Noise of one chunk per step: for the current chunk, and (unless `first`) for its re-noised left one."""
        cur, prev = [], []
        for _ in range(self.steps):
            cur.append(self._noise())
            if not first:
                prev.append(self._noise())
        return cur, (None if first else prev)

    def run(self, prev, cross, cur_noise, prev_noise, batch: int | None = None, last_only: bool = False):
        """(new version of `prev` or None, current chunk) for `batch` items (default: the decode batch);
        `last_only` skips computing the new version of `prev` (returned as None)."""
        b = self.b if batch is None else batch
        current, new_prev = None, None
        for k, s in enumerate(self.levels):
            if k == 0:
                x_cur = cur_noise[k] * s
            else:
                x_cur = current + cur_noise[k] * (s**2 - edm.SIGMA_MIN**2) ** 0.5
            if prev is None:
                x, sig = x_cur[:, None], torch.full((b, 1), s)
            else:
                x_prev = prev + prev_noise[k] * (self.s_cond**2 - edm.SIGMA_MIN**2) ** 0.5
                x = torch.stack([x_prev, x_cur], dim=1)
                sig = torch.tensor([[self.s_cond, s]]).expand(b, 2)
            out = self.model.consistency(x, sig.to(x.device), cross, last_only=last_only)
            current = out[:, -1]
            new_prev = out[:, 0] if prev is not None and not last_only else None
        return new_prev, current
