"""Deterministic FluidSynth rendering of note events (float output, no dither, a fresh synth per job).

FluidSynth's 16-bit output path adds dither whose state carries over between calls, and a reused synth carries
state from clip to clip; rendering to float32 with a fresh synth per job keeps every clip byte-identical
however the build is interrupted, resumed or spread over worker processes.

Loading is the slow part (MuseScore General is Vorbis-compressed: decoding it takes ~25 s), so each process
keeps one "keeper" synth per soundfont with every sample loaded; FluidSynth's sample cache then serves the
fresh synths of later jobs in that process from memory (~0.5 s each instead of a full decode).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2l2.errors import M2L2Error

SAMPLE_RATE = 44100


@dataclass(frozen=True, order=True)
class Event:
    """A MIDI channel event at `time` seconds: kind "on" (a=key, b=velocity), "off" (a=key), "program" (a=prog),
    "cc" (a=controller, b=value)."""

    time: float
    order: int
    kind: str
    channel: int
    a: int = 0
    b: int = 0


def _import_fluidsynth():
    try:
        import fluidsynth
    except ImportError as e:
        raise M2L2Error(
            "rendering needs FluidSynth and pyfluidsynth (Python module fluidsynth): run "
            "scripts/install_system_deps.sh (or: sudo apt-get install -y --no-install-recommends fluidsynth) "
            "and pip install 'm2l2[data]'"
        ) from e
    return fluidsynth


_KEEPERS: dict[str, tuple[object, int]] = {}  # soundfont path → (synth, sfid), one set per process


class Renderer:
    """A soundfont; `render(events, seconds)` returns float32 stereo [2, N] at 44.1 kHz.

    Every `render_many` call gets a fresh synth: a reused one leaks state between clips (voice filters, block
    phase), which would make a resumed build differ from a full one. The soundfont's samples stay loaded in a
    per-process keeper synth (see the module docstring), so creating Renderers is cheap after the first.
    """

    def __init__(self, soundfont: Path, gain: float = 0.4, sample_rate: int = SAMPLE_RATE):
        self._fs = _import_fluidsynth()
        self.soundfont = Path(soundfont)
        self.gain = gain
        self.sample_rate = sample_rate
        self._write = self._fs._fl.fluid_synth_write_float
        self._write.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        self._write.restype = ctypes.c_int
        key = str(self.soundfont.resolve())
        if key not in _KEEPERS:  # keeps FluidSynth's sample cache warm for the rest of the process
            _KEEPERS[key] = self._new_synth()
        self._keeper, self._keeper_id = _KEEPERS[key]

    def _new_synth(self):
        # static loading: every sample decoded once into the (process-wide) sample cache; same samples as the
        # dynamic loader, so the output is unchanged
        settings = {
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.cpu-cores": 1,
            "synth.dynamic-sample-loading": 0,
        }
        synth = self._fs.Synth(gain=self.gain, samplerate=float(self.sample_rate), **settings)
        sfid = synth.sfload(str(self.soundfont))
        if sfid < 0:
            raise M2L2Error(
                f"FluidSynth could not load the soundfont ({self.soundfont}): use a complete SF2 file "
                "(delete a damaged unpacked package from the package cache to unpack it again)"
            )
        return synth, sfid

    def has_program(self, program: int, bank: int = 0) -> bool:
        return bool(self._keeper.sfpreset_name(self._keeper_id, bank, program))

    def _pull(self, synth, n: int, out: list[np.ndarray]) -> None:
        while n > 0:
            m = min(n, 8192)
            buf = np.zeros((m, 2), dtype=np.float32)
            ptr = buf.ctypes.data
            self._write(synth.synth, m, ptr, 0, 2, ptr, 1, 2)
            out.append(buf)
            n -= m

    def render(self, events: list[Event], seconds: float) -> np.ndarray:
        """Render `events` into `seconds` of audio; events at or after the end are dropped."""
        return self.render_many([(events, seconds)])[0]

    def render_many(self, clips: list[tuple[list[Event], float]]) -> list[np.ndarray]:
        """Render clips one after the other in one fresh synth (cheaper than a synth per clip). The output
        depends on the whole list, so a resumable job must always render the same list."""
        synth, sfid = self._new_synth()
        outputs = []
        try:
            for events, seconds in clips:
                synth.system_reset()
                for ch in range(16):
                    synth.program_select(ch, sfid, 128 if ch == 9 else 0, 0)
                total = int(round(seconds * self.sample_rate))
                out: list[np.ndarray] = []
                pos = 0
                for ev in sorted(events):
                    at = int(round(ev.time * self.sample_rate))
                    if at >= total:
                        break
                    if at > pos:
                        self._pull(synth, at - pos, out)
                        pos = at
                    if ev.kind == "on":
                        synth.noteon(ev.channel, ev.a, ev.b)
                    elif ev.kind == "off":
                        synth.noteoff(ev.channel, ev.a)
                    elif ev.kind == "program":
                        synth.program_select(ev.channel, sfid, 128 if ev.channel == 9 else 0, ev.a)
                    elif ev.kind == "cc":
                        synth.cc(ev.channel, ev.a, ev.b)
                if total > pos:
                    self._pull(synth, total - pos, out)
                synth.system_reset()
                self._pull(synth, 8192, [])  # let every voice end before the next clip
                audio = np.concatenate(out, axis=0) if out else np.zeros((0, 2), np.float32)
                outputs.append(np.ascontiguousarray(audio.T))
        finally:
            synth.delete()
        return outputs

    def close(self) -> None:
        """Nothing to free per Renderer: the keeper synth lives as long as the process (see release_all)."""


def release_all() -> None:
    """Delete this process's keeper synths (frees the decoded samples)."""
    for synth, _ in _KEEPERS.values():
        synth.delete()
    _KEEPERS.clear()
