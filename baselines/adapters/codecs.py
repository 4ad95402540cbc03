"""Classical codecs (Opus, MP3 through PyAV's bundled FFmpeg) and the identity: real reference rows that run anywhere.

The "latent" of a codec is its bit stream (bytes). Its size is counted from the encoded packets' payload,
without container overhead, so `measured_bitrate` can be checked against the nominal bit rate the
compression ratio is computed from.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from baselines.interface import Autoencoder, Package, Provenance, Requirement, import_optional
from m2l2.audio import resample
from m2l2.errors import M2L2Error

PYAV = Package("av", "av>=12", "PyAV wheels bundle FFmpeg with libopus and libmp3lame")


class Identity(Autoencoder):
    """No compression: the upper bound of every pair-wise metric (compression ratio 1x)."""

    stochastic = False

    def __init__(self, sample_rate: int = 44100, channels: int = 1):
        self.name = "identity"
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.latent_rate = float(sample_rate)
        self.latent_dim = self.channels

    @property
    def provenance(self) -> Provenance:
        return Provenance(pretrained=True, weights=None, note="no weights: the identity map")

    def encode(self, audio: np.ndarray) -> np.ndarray:
        return np.array(audio, dtype=np.float32, copy=True)

    def decode(self, latent: np.ndarray, length: int | None = None) -> np.ndarray:
        return latent if length is None else latent[..., :length]


@dataclass(frozen=True)
class _CodecSetup:
    encoder: str  # FFmpeg encoder name
    container: str  # in-memory container that carries encoder delay/padding so decoding is sample-aligned
    rate: int  # rate the codec runs at (the adapter resamples to and from it)
    options: tuple[tuple[str, str], ...]


def _setup(codec: str, bitrate: int) -> _CodecSetup:
    if codec == "opus":
        # libopus runs at 48 kHz; CBR so the bit rate is what the compression ratio says.
        return _CodecSetup("libopus", "ogg", 48000, (("vbr", "off"), ("application", "audio")))
    if codec == "mp3":
        # LAME's lowest rates exist only for MPEG-2.5 sample rates; below 16 kbps it needs 8-12 kHz input.
        if bitrate < 8000:
            raise M2L2Error(
                f"MP3 (LAME) cannot encode below 8 kbps, got {bitrate} (option bitrate): use opus for lower "
                "rates"
            )
        rate = 8000 if bitrate <= 8000 else 11025 if bitrate <= 16000 else 22050 if bitrate <= 48000 else 44100
        cbr_rates = {8000, 16000, 24000, 32000, 40000, 48000, 56000, 64000, 80000, 96000, 112000, 128000}
        opts = () if bitrate in cbr_rates else (("abr", "1"),)
        return _CodecSetup("libmp3lame", "mp3", rate, opts)
    raise M2L2Error(f"unknown codec {codec!r} (option codec): use 'opus' or 'mp3'")


class AVCodec(Autoencoder):
    """Opus or MP3 at a given bit rate; compression ratio = 16-bit PCM bit rate / codec bit rate."""

    requirements = Requirement(packages=(PYAV,))
    stochastic = False

    def __init__(self, codec: str = "opus", bitrate: int = 11025, sample_rate: int = 44100, channels: int = 1):
        self._av = import_optional(PYAV)
        self.codec = codec
        self.bitrate = int(bitrate)
        self.setup = _setup(codec, self.bitrate)
        self.name = f"{codec}-{self.bitrate / 1000:g}kbps"
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        if self.channels not in (1, 2):
            raise M2L2Error(
                f"codecs support 1 or 2 channels, got {self.channels} (option channels): use 1 or 2"
            )
        # A bit stream: 1 bit per value, `bitrate` values per second (frames of 1 s for the bookkeeping).
        self.latent_rate = 1.0
        self.latent_dim = self.bitrate
        self.bits_per_value = 1.0
        self.measured_bitrate: float | None = None  # payload bits per second of the last encode
        try:
            self._av.codec.Codec(self.setup.encoder, "w")
        except Exception as e:
            raise M2L2Error(
                f"this PyAV/FFmpeg build has no {self.setup.encoder} encoder, {e} (av "
                f"{getattr(self._av, '__version__', '?')}): install the PyPI wheel of av"
            ) from e

    @property
    def provenance(self) -> Provenance:
        version = getattr(self._av, "__version__", "?")
        return Provenance(pretrained=True, weights=None, note=f"{self.setup.encoder} via PyAV {version}")

    def encode(self, audio: np.ndarray) -> bytes:
        av = self._av
        x = resample(np.asarray(audio, dtype=np.float32), self.sample_rate, self.setup.rate)
        x = np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)
        layout = "mono" if self.channels == 1 else "stereo"
        buf = io.BytesIO()
        payload = 0
        with av.open(buf, "w", format=self.setup.container, options={"fflags": "+bitexact"}) as out:
            stream = out.add_stream(self.setup.encoder, rate=self.setup.rate, layout=layout)
            stream.bit_rate = self.bitrate  # bitexact above: fixed Ogg serial numbers, so equal input gives equal bytes
            stream.codec_context.options = dict(self.setup.options)
            frame = av.AudioFrame.from_ndarray(x, format="fltp", layout=layout)
            frame.sample_rate = self.setup.rate
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                payload += packet.size
                out.mux(packet)
        self.measured_bitrate = payload * 8 / (x.shape[-1] / self.setup.rate)
        return buf.getvalue()

    def decode(self, latent: bytes, length: int | None = None) -> np.ndarray:
        av = self._av
        chunks = []
        with av.open(io.BytesIO(latent), "r") as inp:
            stream = inp.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="mono" if self.channels == 1 else "stereo",
                                          rate=self.setup.rate)
            for frame in inp.decode(stream):
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        y = np.concatenate(chunks, axis=1).astype(np.float32) if chunks else np.zeros((self.channels, 0), np.float32)
        y = resample(y, self.setup.rate, self.sample_rate)
        return y if length is None else y[:, :length]
