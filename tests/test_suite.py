"""The offline default suite, built small from the Debian packages: labels, determinism, manifest checks."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets import load
from benchmarks.suite.manifest import verify
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
    build(root, ["notes", "key"], small=True)
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
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((root / "notes").rglob("*.flac"))}

    fresh = tmp_path / "again"
    build(fresh, ["notes"], small=True)
    assert digests(fresh) == digests(small_suite) and digests(fresh)
    victim = sorted((fresh / "notes" / "audio").glob("*.flac"))[-1]
    victim.unlink()
    build(fresh, ["notes"], small=True)  # resume: only the damaged job is redone
    assert digests(fresh) == digests(small_suite)
    assert verify(fresh) == []
