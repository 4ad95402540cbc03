"""A small Standard MIDI File reader: the channel events of every track, in seconds, through the tempo map.

Only what rendering and labelling need (notes, program changes, controllers, tempo, key signature); other
events (pitch bend, aftertouch, sysex, text) are skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class MidiFile:
    ticks_per_beat: int
    events: list[tuple[float, int, str, int, int]] = field(default_factory=list)  # (s, channel, kind, a, b)
    tempos: list[tuple[float, float]] = field(default_factory=list)  # (s, bpm)
    key_signatures: list[tuple[int, int]] = field(default_factory=list)  # (sharps, minor)


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def _track_events(data: bytes):
    """(tick, status, payload) of one track chunk, running status resolved."""
    pos, tick, status = 0, 0, 0
    while pos < len(data):
        delta, pos = _varlen(data, pos)
        tick += delta
        if data[pos] & 0x80:
            status = data[pos]
            pos += 1
        if status == 0xFF:
            kind = data[pos]
            length, pos = _varlen(data, pos + 1)
            yield tick, 0xFF, bytes([kind]) + data[pos : pos + length]
            pos += length
        elif status in (0xF0, 0xF7):
            length, pos = _varlen(data, pos)
            pos += length
        else:
            n = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            yield tick, status, data[pos : pos + n]
            pos += n


def read_midi(blob: bytes) -> MidiFile:
    """Parse a format 0/1 SMF (metrical time division)."""
    if blob[:4] != b"MThd":
        raise ValueError("not a Standard MIDI File")
    _, _, division = struct.unpack(">HHH", blob[8:14])
    if division & 0x8000:
        raise ValueError("SMPTE time division is not supported")
    pos = 8 + struct.unpack(">I", blob[4:8])[0]
    raw = []
    while pos + 8 <= len(blob):
        kind, length = blob[pos : pos + 4], struct.unpack(">I", blob[pos + 4 : pos + 8])[0]
        if kind == b"MTrk":
            raw += [
                (tick, i, status, payload)
                for i, (tick, status, payload) in enumerate(_track_events(blob[pos + 8 : pos + 8 + length]))
            ]
        pos += 8 + length
    raw.sort(key=lambda e: (e[0], e[1]))
    out = MidiFile(division)
    tempo_us, seg_tick, seg_us = 500000, 0, 0  # the current tempo segment starts at seg_tick = seg_us
    for tick, _, status, payload in raw:
        seconds = (seg_us + (tick - seg_tick) * tempo_us / division) / 1e6
        if status == 0xFF:
            if payload[0] == 0x51:
                seg_us, seg_tick = seg_us + (tick - seg_tick) * tempo_us / division, tick
                tempo_us = int.from_bytes(payload[1:4], "big")
                out.tempos.append((seconds, 60e6 / tempo_us))
            elif payload[0] == 0x59:
                out.key_signatures.append((struct.unpack("b", payload[1:2])[0], payload[2]))
            continue
        ch, hi = status & 0x0F, status & 0xF0
        if hi == 0x90 and payload[1] > 0:
            out.events.append((seconds, ch, "on", payload[0], payload[1]))
        elif hi == 0x80 or hi == 0x90:
            out.events.append((seconds, ch, "off", payload[0], 0))
        elif hi == 0xC0:
            out.events.append((seconds, ch, "program", payload[0], 0))
        elif hi == 0xB0:
            out.events.append((seconds, ch, "cc", payload[0], payload[1]))
    return out
