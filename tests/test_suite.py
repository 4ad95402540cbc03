"""The offline default suite, built small from the Debian packages: labels, determinism, manifest checks."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets import load
from benchmarks.datasets.suite import multi_hot, tag_vocabulary
from benchmarks.suite.chorales import load_chorales
from benchmarks.suite.manifest import verify
from benchmarks.suite.midi import read_midi
from benchmarks.suite.part_key import transpose_shift

REPO = Path(__file__).resolve().parents[1]


def _have_fluidsynth() -> bool:
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


@pytest.fixture(scope="session")
def system_deps():
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb unavailable: the suite is built from Debian packages")
    if not _have_fluidsynth():
        subprocess.run(["sh", str(REPO / "scripts" / "install_system_deps.sh")], check=False)
    pytest.importorskip("fluidsynth", reason="pyfluidsynth/libfluidsynth missing: pip install 'm2l2[data]'")
    pytest.importorskip("music21", reason="music21 missing: pip install 'm2l2[data]'")


@pytest.fixture(scope="session")
def small_suite(system_deps, tmp_path_factory):
    from benchmarks.suite.build import build

    root = tmp_path_factory.mktemp("suite")
    build(root, ["notes", "key", "tags"], small=True, workers=2)
    return root


def _peak_midi(audio: np.ndarray, sr: int) -> float:
    """Pitch (fractional MIDI) of the strongest spectral peak above 25 Hz."""
    x = audio[0, int(0.1 * sr): int(1.5 * sr)].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=1 << 18))
    freqs = np.fft.rfftfreq(1 << 18, 1 / sr)
    spec[freqs < 25] = 0
    return float(69 + 12 * np.log2(freqs[int(np.argmax(spec))] / 440.0))


@pytest.mark.slow
def test_rendered_note_pitch_matches_label(small_suite):
    items = load("suite-notes", small_suite)
    assert len(items) >= 8 and {it.labels["instrument"] for it in items} == {"Acoustic Grand Piano", "Harpsichord"}
    checked = 0
    for it in items:
        midi = it.labels["midi"]
        if not 36 <= midi <= 96:  # extreme registers have weak fundamentals
            continue
        audio, sr = it.load()
        measured = _peak_midi(audio, sr)
        # the strongest partial is one of the first four harmonics of the labelled pitch (0, 12, 19.02, 24 st up)
        assert min(abs(measured - midi - 12 * np.log2(h)) for h in (1, 2, 3, 4)) < 0.3, (it.id, measured)
        assert it.labels["pitch_class"] == ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][midi % 12]
        checked += 1
    assert checked >= 4


@pytest.mark.slow
def test_transposed_chorale_label_moves_with_transposition(small_suite):
    items = load("suite-key", small_suite)
    assert len(items) == 4 and {it.labels["mode"] for it in items} == {"major", "minor"}
    from music21 import corpus

    for it in items:
        score = corpus.parse(f"bach/{it.labels['chorale']}")
        original = score.analyze("key")
        moved = score.transpose(it.labels["transpose"]).analyze("key")
        assert moved.mode == it.labels["mode"]
        assert (moved.tonic.pitchClass - original.tonic.pitchClass) % 12 == it.labels["transpose"] % 12
        assert moved.tonic.pitchClass == ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#",
                                          "B"].index(it.labels["tonic"])
    assert transpose_shift("A minor", "C minor") == 3 and transpose_shift("C major", "G major") == -5


@pytest.mark.slow
def test_manifest_verification_detects_a_corrupted_file(small_suite, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small_suite, copy)
    assert verify(copy) == []
    victim = sorted((copy / "notes" / "audio").glob("*.flac"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    (copy / "key" / "stray.txt").write_text("x")
    problems = verify(copy)
    assert any("sha256 mismatch" in p and victim.name in p for p in problems)
    assert any("stray.txt" in p for p in problems)


@pytest.mark.slow
def test_rebuild_is_byte_identical_and_resume_redoes_only_damaged_files(small_suite, tmp_path):
    from benchmarks.suite.build import build

    def digests(root: Path) -> dict[str, str]:
        return {k: v for k, v in _digests(root, "notes").items() if k.endswith(".flac")}

    fresh = tmp_path / "again"
    build(fresh, ["notes"], small=True)
    assert digests(fresh) == digests(small_suite) and digests(fresh)
    victim = sorted((fresh / "notes" / "audio").glob("*.flac"))[-1]
    victim.unlink()
    build(fresh, ["notes"], small=True)  # resume: only the damaged job is redone
    assert digests(fresh) == digests(small_suite)
    assert verify(fresh) == []


def _digests(root: Path, part: str) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / part).rglob("*")) if p.is_file()}


def _smf(tracks: list[bytes], division: int = 96) -> bytes:
    head = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
    return head + division.to_bytes(2, "big") + b"".join(b"MTrk" + len(t).to_bytes(4, "big") + t for t in tracks)


def test_midi_reader_follows_the_tempo_map_and_running_status():
    # track 0: 120 bpm, then 60 bpm from beat 1; key signature 2 sharps major
    t0 = bytes([0, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20, 0, 0xFF, 0x59, 2, 2, 0,
                96, 0xFF, 0x51, 3, 0x0F, 0x42, 0x40, 0, 0xFF, 0x2F, 0])
    # track 1, channel 10: program, note on at 0, running-status note "on" with velocity 0 (= off) at beat 2
    t1 = bytes([0, 0xC9, 5, 0, 0x99, 36, 100, 0x81, 0x40, 36, 0, 0, 0xFF, 0x2F, 0])
    m = read_midi(_smf([t0, t1]))
    assert [round(b) for _, b in m.tempos] == [120, 60] and m.key_signatures == [(2, 0)]
    assert m.events[0] == (0.0, 9, "program", 5, 0) and m.events[1] == (0.0, 9, "on", 36, 100)
    assert m.events[2][2] == "off" and m.events[2][0] == pytest.approx(0.5 + 1.0)  # 1 beat at 120 + 1 at 60


def test_shipped_chorale_list_is_balanced_and_well_formed():
    chorales = load_chorales()
    keys = {"major": 0, "minor": 0}
    for c in chorales:
        tonic, mode = c["key"].split()
        assert tonic in ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"] and c["quarters"] >= 24
        keys[mode] += 1
    assert keys["major"] >= 60 and keys["minor"] >= 60  # the full key part needs 60 of each
    assert len({c["name"] for c in chorales}) == len(chorales)


@pytest.mark.skipif(shutil.which("mma") is None, reason="mma missing: run scripts/install_system_deps.sh")
def test_mma_groove_labels_follow_the_midi():
    from benchmarks.suite.part_tags import midi_labels, mma_script, run_mma, tempo_bucket

    chords = ["C#m", "F#m", "G#7", "C#m"]
    with_drums = run_mma(mma_script("rhumba", "C#", "minor", 97, 5, True, chords))
    without = run_mma(mma_script("rhumba", "C#", "minor", 97, 5, False, chords))
    assert with_drums == run_mma(mma_script("rhumba", "C#", "minor", 97, 5, True, chords))  # seeded: repeatable
    a, b = midi_labels(with_drums, 10.0), midi_labels(without, 10.0)
    assert a["drums"] and not b["drums"] and a["tempo"] == b["tempo"] == 97 and tempo_bucket(97) == "medium"
    assert not any(ch == 9 and kind == "on" for _, ch, kind, _, _ in read_midi(without).events)
    assert a["instrument_families"] and a["instrument_families"] == b["instrument_families"]
    assert read_midi(with_drums).key_signatures == [(4, 1)]  # C# minor: 4 sharps (Db minor fails in mma)
    eb = run_mma(mma_script("folk", "D#", "major", 120, 1, True, ["D#", "G#"]))  # spelled Eb major for mma
    assert read_midi(eb).key_signatures == [(-3, 0)]


def _tempo_and_key_from_bytes(blob: bytes) -> tuple[int, int]:
    """Tempo (bpm) and key signature tonic pitch class found directly in the file's bytes."""
    i = blob.index(b"\xff\x51\x03")
    bpm = round(60e6 / int.from_bytes(blob[i + 3: i + 6], "big"))
    j = blob.index(b"\xff\x59\x02")
    sharps, minor = int.from_bytes(blob[j + 3: j + 4], "big", signed=True), blob[j + 4]
    return bpm, (7 * sharps + (9 if minor else 0)) % 12


@pytest.mark.slow
def test_tags_labels_match_the_midi_and_the_audio(small_suite):
    from benchmarks.suite.part_tags import SR, midi_events
    from benchmarks.suite.sources import fetch
    from benchmarks.suite.synth import Renderer

    items = load("suite-tags", small_suite)
    vocab = tag_vocabulary(small_suite)
    assert len(items) == 6 and {it.labels["genre"] for it in items} == {"rock", "jazz", "march"}
    targets = multi_hot(items, vocab)
    assert targets.shape == (6, len(vocab)) and (targets.sum(axis=0) > 0).all()
    pcs = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    for it in items:
        lab = it.labels
        blob = (small_suite / "tags" / lab["midi_path"]).read_bytes()
        bpm, key_pc = _tempo_and_key_from_bytes(blob)
        assert bpm == lab["tempo"] and key_pc == pcs.index(lab["tonic"]), it.id
        assert f"tempo:{lab['tempo_bucket']}" in lab["tags"] and f"genre:{lab['genre']}" in lab["tags"]
        drum_notes = [e for e in read_midi(blob).events if e[1] == 9 and e[2] == "on" and e[0] < 10.0]
        assert (lab["drums"] == "yes") == bool(drum_notes) == ("drums" in lab["tags"]) != ("no drums" in lab["tags"])
        assert {f"instrument:{f}" for f in lab["instrument_families"]} <= set(lab["tags"])
    # the audio is the rendering of the stored MIDI: re-render one clip and compare
    it = items[0]
    sf = fetch("fluid-soundfont-gm").tree / "usr/share/sounds/sf2/FluidR3_GM.sf2"
    x = Renderer(sf, gain=0.3).render(midi_events((small_suite / "tags" / it.labels["midi_path"]).read_bytes()),
                                      10.0).mean(axis=0)
    x[-SR // 2:] *= np.linspace(1.0, 0.0, SR // 2, dtype=np.float32)
    x *= 0.89 / np.abs(x).max()
    audio, sr = it.load()
    assert sr == SR and audio.shape == (1, 10 * SR) and np.abs(audio[0] - x).max() < 2.0 / 32768


@pytest.mark.slow
def test_rebuild_is_byte_identical_whatever_the_worker_count(small_suite, tmp_path):
    from benchmarks.suite.build import build

    build(tmp_path, ["tags"], small=True, workers=1)  # the fixture used 2 workers
    assert _digests(tmp_path, "tags") == _digests(small_suite, "tags") and len(_digests(tmp_path, "tags")) == 15


@pytest.mark.slow
def test_ensure_built_builds_when_absent_and_is_a_noop_when_valid(system_deps, tmp_path, monkeypatch):
    import benchmarks.suite.build as build_mod
    from benchmarks.suite import ensure_built, stale_parts

    root = tmp_path / "suite"
    assert ensure_built(root, ["speech"], small=True) == root
    assert verify(root) == [] and len(load("suite-speech", root)) == 6
    before = _digests(root, "speech")

    def no_build(*args, **kwargs):
        raise AssertionError("ensure_built rebuilt a complete part")

    monkeypatch.setattr(build_mod, "build", no_build)
    ensure_built(root, ["speech"], small=True)  # present and valid: nothing to do
    assert stale_parts(root, ["speech"], small=True, check_hashes=True) == []
    assert stale_parts(root, ["speech"], small=False) == ["speech"]  # another size is not "built"
    monkeypatch.undo()
    victim = sorted((root / "speech" / "audio").glob("*.flac"))[0]
    victim.unlink()
    assert stale_parts(root, ["speech"], small=True) == ["speech"]
    ensure_built(root, ["speech"], small=True)  # a missing file: the part is rebuilt (resumed)
    assert _digests(root, "speech") == before
