"""The STFT representation of Music2Latent(2): complex STFT with an amplitude transform, real/imag as channels.

Constants are those of the upstream Music2Latent code: 44.1 kHz, Hann window 2048 (periodic), hop 512,
unnormalised rfft with the Nyquist bin dropped (1024 bins), no centring; c̃ = β·|c|^α·e^{i∠c}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SAMPLE_RATE = 44100
HOP = 512
WINDOW = 2048
FREQ_BINS = 1024
ALPHA = 0.65
BETA = 0.34
# Padding that centres the first frame on sample 256 and gives every sample at least two frames.
LEFT_PAD = (WINDOW - HOP) // 2
_EPS = 1e-12


def frames_to_samples(frames: int) -> int:
    """Waveform length that yields exactly `frames` STFT frames without padding."""
    return (frames - 1) * HOP + WINDOW


def _window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(WINDOW, periodic=True, device=device, dtype=dtype)


def stft(wave: torch.Tensor) -> torch.Tensor:
    """[..., N] real → [..., 1024, frames] complex (no padding: frames = (N - 2048) // 512 + 1)."""
    frames = wave.unfold(-1, WINDOW, HOP) * _window(wave.device, wave.dtype)
    spec = torch.fft.rfft(frames, dim=-1)[..., :FREQ_BINS]
    return spec.transpose(-1, -2)


def _window_square_sum(
    n_frames: int, device: torch.device, dtype: torch.dtype, start: int = 0, stop: int | None = None
) -> torch.Tensor:
    """Σ_k w²(n − k·hop) for output samples start ≤ n < stop (default: all): the overlap-add normaliser.

    The window is 4 hops long, so sample n = q·hop + r lies in frames k = q − j (j = 0..3) at offset
    r + j·hop; only frames 0 ≤ k < n_frames count. Computed for a block, so long outputs need no
    full-length index arrays."""
    stop = frames_to_samples(n_frames) if stop is None else stop
    wsq = _window(device, dtype) ** 2
    n = torch.arange(start, stop, device=device)
    q, r = n // HOP, n % HOP
    norm = torch.zeros(stop - start, device=device, dtype=dtype)
    for j in range(WINDOW // HOP):
        k = q - j
        norm += torch.where((k >= 0) & (k < n_frames), wsq[r + j * HOP], 0.0)
    return norm


def _frames_to_segment(spec: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Complex STFT frames [..., 1024, frames] → their windowed, summed inverse [..., frames_to_samples(frames)]
    (not yet normalised by the window-square sum)."""
    padded = F.pad(spec.transpose(-1, -2), (0, 1))  # [..., frames, 1025]: the Nyquist bin back as zero
    frames = torch.fft.irfft(padded, n=WINDOW, dim=-1) * _window(spec.device, dtype)
    n = frames.shape[-2]
    lead = frames.shape[:-2]
    cols = frames.reshape(-1, n, WINDOW).transpose(1, 2)
    seg = F.fold(cols, output_size=(1, frames_to_samples(n)), kernel_size=(1, WINDOW), stride=(1, HOP))
    return seg.reshape(*lead, -1)


class StreamingOverlapAdd:
    """The inverse STFT built from chunks that arrive in order, handing out every sample as soon as no later
    chunk can add to it: memory is one chunk's samples, whatever the output's length (an hour of 44.1-kHz
    stereo is 1.3 GB as one tensor). Each sample is the windowed sum of the frames that cover it divided by
    the window-square sum: the exact inverse of `stft` wherever frames overlap.

    `add(spec, first_frame)` overlap-adds a spectrogram chunk [..., 1024, frames] and returns the samples it
    completed (those before the chunk's first frame); `finish()` returns the rest."""

    def __init__(self, lead_shape: tuple[int, ...], n_frames: int, device=None, dtype=torch.float32):
        self.n_frames = n_frames
        self.buf = torch.zeros(*lead_shape, 0, device=device, dtype=dtype)
        self.offset = 0  # output index of buf[..., 0]

    def add(self, spec: torch.Tensor, first_frame: int) -> torch.Tensor:
        seg = _frames_to_segment(spec, self.buf.dtype).to(self.buf.device)
        start = first_frame * HOP
        if start < self.offset:
            raise ValueError(f"chunk at frame {first_frame} arrived after samples up to {self.offset} were handed out")
        grow = start + seg.shape[-1] - self.offset - self.buf.shape[-1]
        if grow > 0:
            self.buf = F.pad(self.buf, (0, grow))
        self.buf[..., start - self.offset : start - self.offset + seg.shape[-1]] += seg
        return self._release(start)

    def finish(self) -> torch.Tensor:
        return self._release(frames_to_samples(self.n_frames))

    def _release(self, stop: int, block: int = 1 << 18) -> torch.Tensor:
        """Samples offset ≤ n < stop, normalised block by block (the normaliser of a whole long output would
        need full-length index arrays)."""
        n = stop - self.offset
        out, self.buf = self.buf[..., :n], self.buf[..., n:].clone()
        for a in range(0, n, block):
            b = min(n, a + block)
            norm = _window_square_sum(self.n_frames, out.device, out.dtype, self.offset + a, self.offset + b)
            out[..., a:b] /= norm.clamp_min(1e-8)
        self.offset = stop
        return out


def istft(spec: torch.Tensor) -> torch.Tensor:
    """Inverse of `stft`: zero Nyquist bin, irfft, windowed overlap-add normalised per sample."""
    ola = StreamingOverlapAdd(tuple(spec.shape[:-2]), spec.shape[-1], spec.device)
    ola.add(spec, 0)
    return ola.finish()


def compress(spec: torch.Tensor) -> torch.Tensor:
    """c̃ = β·|c|^α·e^{i∠c}: evens out the amplitude distribution across frequencies."""
    mag = spec.abs()
    return spec * (BETA * (mag + _EPS) ** (ALPHA - 1))


def decompress(spec: torch.Tensor) -> torch.Tensor:
    """|c| = (|c̃|/β)^{1/α}, same phase."""
    mag = spec.abs()
    return spec * ((mag + _EPS) / BETA) ** (1 / ALPHA) / (mag + _EPS)


def to_spec(wave: torch.Tensor) -> torch.Tensor:
    """Waveform [B, C, N] → representation [B, 2C, 1024, frames] (real and imaginary part per channel)."""
    c = compress(stft(wave.float()))  # [B, C, F, T] complex
    b, ch, f, t = c.shape
    return torch.stack([c.real, c.imag], dim=2).reshape(b, 2 * ch, f, t)


def from_rep(rep: torch.Tensor) -> torch.Tensor:
    """Representation [B, 2C, 1024, frames] → complex STFT [B, C, 1024, frames] (amplitude transform undone)."""
    b, c2, f, t = rep.shape
    pair = rep.float().reshape(b, c2 // 2, 2, f, t)
    return decompress(torch.complex(pair[:, :, 0], pair[:, :, 1]))


def magnitude(rep: torch.Tensor) -> torch.Tensor:
    """Representation [B, 2C, 1024, frames] → its magnitude |c̃| per channel [B, C, 1024, frames]."""
    b, c2, f, t = rep.shape
    return rep.reshape(b, c2 // 2, 2, f, t).norm(dim=2)


def to_wave(rep: torch.Tensor) -> torch.Tensor:
    """Representation [B, 2C, 1024, frames] → waveform [B, C, (frames-1)·512 + 2048], clamped to [-1, 1]."""
    return istft(from_rep(rep)).clamp(-1.0, 1.0)


def pad_for_chunks(wave: torch.Tensor, chunk_frames: int) -> tuple[torch.Tensor, int]:
    """Zero-pad [..., N] so that its STFT has a whole number of chunks; returns (padded, number of chunks).

    The pad is `LEFT_PAD` samples on the left and whatever completes the last chunk on the right;
    `unpad` inverts it.
    """
    n = wave.shape[-1]
    chunk_samples = chunk_frames * HOP
    chunks = max(1, -(-n // chunk_samples))
    total = frames_to_samples(chunks * chunk_frames)
    return F.pad(wave, (LEFT_PAD, total - LEFT_PAD - n)), chunks


def unpad(wave: torch.Tensor, length: int) -> torch.Tensor:
    return wave[..., LEFT_PAD : LEFT_PAD + length]
