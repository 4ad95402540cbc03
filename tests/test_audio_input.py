"""Bad and unusual audio files: one reader (m2l2.audio.load_audio) for every entry point.

Bad files (garbage behind an audio extension, NaN or Inf samples, no samples) are a one-line error with
exit code 2 on the CLI and a recorded skip in batch work (metrics, tables, training data); unusual but
valid files (6 channels, 8 or 96 kHz, a few samples, silence) work, with a warning where degraded.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers_m2l2 import MICRO_YAML

from m2l2.audio import AudioError, AudioWarning, load_audio
from m2l2.cli import main
from m2l2.errors import M2L2Error

SR = 44_100


def tone(n: int, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    """[n, channels] float32: a 220 Hz tone plus a little noise (soundfile's layout)."""
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / sr) + 0.01 * rng.standard_normal(n)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def write_garbage(path: Path, text: bool = False) -> Path:
    # Random bytes fail to open; text behind .flac opens in FFmpeg as a stream with zero channels.
    path.write_bytes(b"not audio, just text. " * 200 if text else np.random.default_rng(1).bytes(4096))
    return path


def write_nonfinite(path: Path, value: float, n: int = SR // 2) -> Path:
    x = tone(n)
    x[n // 3] = value
    sf.write(str(path), x, SR, subtype="FLOAT")  # float WAV is the format that can hold NaN / Inf
    return path


@pytest.fixture()
def bad(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    empty = folder / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), np.float32), SR)
    return {
        "garbage-wav": write_garbage(folder / "garbage.wav"),
        "garbage-flac": write_garbage(folder / "garbage.flac", text=True),
        "garbage-mp3": write_garbage(folder / "garbage.mp3"),
        "nan": write_nonfinite(folder / "nan.wav", np.nan),
        "inf": write_nonfinite(folder / "inf.wav", np.inf),
        "empty": empty,
    }


REASONS = {
    "garbage-wav": "unreadable",
    "garbage-flac": "(unreadable|zero channels)",
    "garbage-mp3": "unreadable",
    "nan": r"non-finite samples \(1 NaN, 0 Inf",
    "inf": r"non-finite samples \(0 NaN, 1 Inf",
    "empty": "empty",
}


@pytest.fixture()
def micro_yaml(tmp_path) -> str:
    path = tmp_path / "micro.yaml"
    path.write_text(MICRO_YAML)
    return str(path)


# --- the reader ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_reader_names_the_file_and_the_reason(bad, kind):
    with pytest.raises(AudioError, match=REASONS[kind]) as info:
        load_audio(bad[kind], sample_rate=16_000, channels=1)
    assert info.value.path == bad[kind] and str(bad[kind]) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, M2L2Error)  # the CLI prints it as one line, exit code 2


def test_reader_checks_a_seeked_range_too(tmp_path):
    path = write_nonfinite(tmp_path / "nan.wav", np.nan, n=3000)  # NaN at sample 1000
    assert np.isfinite(load_audio(path, start=1500, frames=1000)[0]).all()
    with pytest.raises(AudioError, match="non-finite"):
        load_audio(path, start=500, frames=1000)


@pytest.mark.parametrize("sr", [8_000, 96_000])
def test_unusual_rates_are_resampled_without_warning(tmp_path, sr):
    path = tmp_path / f"tone{sr}.wav"
    sf.write(str(path), tone(sr // 2, sr), sr)  # 0.5 s
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioWarning)
        audio, rate = load_audio(path, sample_rate=SR)
    assert rate == SR and audio.shape == (1, SR // 2)
    # The 220 Hz tone survives the resampling: its spectral peak stays at 220 Hz (2 Hz bins).
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert np.argmax(spectrum) * SR / audio.shape[1] == pytest.approx(220, abs=2)


def test_six_channels_are_averaged_with_a_warning(tmp_path):
    path = tmp_path / "six.wav"
    x = tone(4000, channels=6)
    x[:, 3:] *= -1  # half the channels in opposite phase: the average is silent
    sf.write(str(path), x, SR)
    with pytest.warns(AudioWarning, match="6 channels averaged to mono"):
        mono, _ = load_audio(path, channels=1)
    assert mono.shape == (1, 4000) and np.abs(mono).max() < 1e-4
    with pytest.warns(AudioWarning, match="copied to 2 channels"):
        stereo, _ = load_audio(path, max_channels=2)
    assert stereo.shape == (2, 4000)
    assert load_audio(path)[0].shape == (6, 4000)  # no conversion asked: all channels


def test_stereo_to_mono_and_few_samples_and_silence_need_no_warning(tmp_path):
    stereo, few, silent = tmp_path / "stereo.wav", tmp_path / "few.wav", tmp_path / "silent.wav"
    sf.write(str(stereo), tone(1000, channels=2), SR)
    sf.write(str(few), tone(5), SR)
    sf.write(str(silent), np.zeros((SR // 10, 1), np.float32), SR)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioWarning)
        assert load_audio(stereo, channels=1)[0].shape == (1, 1000)
        assert load_audio(few)[0].shape == (1, 5)
        assert not load_audio(silent)[0].any()


# --- the model's CLI: one line, exit code 2, nothing written ------------------------------------


@pytest.mark.parametrize("command", ["encode", "reconstruct"])
@pytest.mark.parametrize("kind", ["garbage-flac", "garbage-wav", "nan", "inf", "empty"])
def test_cli_refuses_bad_audio_with_one_line(tmp_path, bad, micro_yaml, capsys, command, kind):
    out = tmp_path / ("out.safetensors" if command == "encode" else "out.wav")
    assert main([command, str(bad[kind]), str(out), "--untrained", micro_yaml]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("m2l2: error:")]
    assert len(err) == 1 and str(bad[kind]) in err[0], err
    assert not out.exists()


def test_cli_takes_unusual_valid_audio(tmp_path, micro_yaml, capsys):
    files = {"8k.wav": (tone(8_000, 8_000), 8_000), "96k.wav": (tone(9_600, 96_000), 96_000),
             "few.wav": (tone(5), SR), "silent.wav": (np.zeros((SR // 4, 1), np.float32), SR),
             "six.wav": (tone(SR // 4, channels=6), SR)}
    for name, (x, sr) in files.items():
        sf.write(str(tmp_path / name), x, sr)
        out = tmp_path / f"rec-{name}"
        assert main(["reconstruct", str(tmp_path / name), str(out), "--untrained", micro_yaml]) == 0, name
        y, rate = sf.read(str(out), always_2d=True)
        assert rate == SR and y.shape[0] == round(x.shape[0] * SR / sr) and np.isfinite(y).all()
    err = capsys.readouterr().err
    assert "warning: " in err and "six.wav: 6 channels averaged to mono" in err
    assert err.count("channels averaged") == 1


def test_baselines_cli_refuses_bad_audio_and_downmixes_many_channels(tmp_path, bad, capsys):
    out = tmp_path / "out.wav"
    assert main(["baselines", "reconstruct", "identity", str(bad["nan"]), str(out)]) == 2
    assert "nan.wav" in capsys.readouterr().err and not out.exists()
    six = tmp_path / "six.wav"
    sf.write(str(six), tone(2000, channels=6), SR)
    assert main(["baselines", "reconstruct", "identity", str(six), str(out)]) == 0
    assert sf.info(str(out)).channels == 2
    assert "6 channels averaged" in capsys.readouterr().err


# --- batch work: a recorded skip, the rest scored -----------------------------------------------


def _pair_dirs(tmp_path: Path, bad: dict[str, Path]) -> tuple[Path, Path]:
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir()
    est.mkdir()
    for i in range(3):
        x = tone(8000, seed=i)
        sf.write(str(ref / f"good{i}.wav"), x, SR)
        sf.write(str(est / f"good{i}.wav"), x + 0.01 * tone(8000, seed=10 + i), SR)
    sf.write(str(ref / "nan.wav"), tone(8000), SR)
    (est / "nan.wav").write_bytes(bad["nan"].read_bytes())  # NaN in the estimate
    (ref / "inf.wav").write_bytes(bad["inf"].read_bytes())  # Inf in the reference
    sf.write(str(est / "inf.wav"), tone(8000), SR)
    sf.write(str(ref / "garbage.wav"), tone(8000), SR)
    (est / "garbage.flac").write_bytes(bad["garbage-flac"].read_bytes())
    return ref, est


def test_metrics_cli_records_bad_files_as_skips(tmp_path, bad, capsys):
    ref, est = _pair_dirs(tmp_path, bad)
    out = tmp_path / "m.json"
    assert main(["metrics", str(ref), str(est), "--metrics", "sisdr", "--no-progress", "--bootstrap", "50",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    sisdr = result["aggregates"]["sisdr"]
    assert sisdr["n"] == 3 and sisdr["status"] == "ok" and np.isfinite(sisdr["value"])
    assert set(sisdr["skipped"]) == {"nan", "inf", "garbage"}
    assert "estimate nan.wav: non-finite" in sisdr["skipped"]["nan"]
    assert "reference inf.wav: non-finite" in sisdr["skipped"]["inf"]
    assert sisdr["skipped"]["garbage"].startswith("estimate garbage.flac")
    rows = {r["clip"]: r["sisdr"] for r in result["per_clip"]}
    assert rows["nan"] is None and rows["good0"] > 20
    assert capsys.readouterr().err.count("warning: skipped clip") == 3


def test_evaluate_pairs_skips_non_finite_arrays_and_reports_when_nothing_is_left():
    from benchmarks.metrics.evaluate import ClipPair, EvalConfig, evaluate_pairs

    x = tone(8000)[:, 0]
    nan = x.copy()
    nan[5] = np.nan
    cfg = EvalConfig(n_boot=20)
    ev = evaluate_pairs([ClipPair("ok", (x, SR), (x + 0.01, SR)), ClipPair("nan", (x, SR), (nan, SR))],
                        "sisdr", cfg, progress=False)
    assert ev.per_clip["sisdr"][1] is None and ev.summaries["sisdr"].n == 1
    assert ev.summaries["sisdr"].skipped == {"nan": "estimate (array): non-finite samples"}
    ev = evaluate_pairs([ClipPair("nan", (x, SR), (nan, SR))], "sisdr", cfg, progress=False)
    assert ev.summaries["sisdr"].status == "not computed" and ev.per_clip["sisdr"] == [None]


def test_tables_skip_unusable_clips_and_record_them(tmp_path, bad):
    from benchmarks.config import config_from_dict
    from benchmarks.experiments import RunOptions, run_experiment
    from benchmarks.experiments.table2 import result_file as result_path

    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(3):
        sf.write(str(clips / f"clip{i}.wav"), tone(SR // 2, channels=2, seed=i), SR)
    for kind in ("garbage-flac", "nan", "inf"):
        (clips / bad[kind].name).write_bytes(bad[kind].read_bytes())
    cfg = config_from_dict({
        "name": "mini", "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference", "options": {"channels": 2}}],
        "metrics": ["sisdr"], "eval": {"n_boot": 20, "batch": 2},
    })
    summary = run_experiment("table2", cfg, RunOptions(progress=False))
    result = json.loads(result_path(cfg).read_text())
    assert set(result["skipped_clips"]) == {"garbage", "nan", "inf"}
    assert "non-finite" in result["skipped_clips"]["nan"]
    assert result["dataset"]["clips"] == 3 and summary.rows_computed == 3
    assert sum("skipped clip" in note for note in summary.notes) == 3


def test_training_data_skips_bad_files_with_a_warning(tmp_path, bad):
    from m2l2.training.config import DataFolder
    from m2l2.training.data import AudioCropDataset

    folder = tmp_path / "train"
    folder.mkdir()
    sf.write(str(folder / "good.wav"), tone(SR), SR)
    sf.write(str(folder / "good22k.flac"), tone(SR // 2, 22_050, seed=1), 22_050)
    for kind in ("garbage-wav", "garbage-flac"):
        (folder / bad[kind].name).write_bytes(bad[kind].read_bytes())
    write_nonfinite(folder / "nan.wav", np.nan, n=1500)  # shorter than a crop: every crop holds the NaN
    write_nonfinite(folder / "inf.wav", np.inf, n=1500)
    ds = AudioCropDataset([DataFolder(str(folder))], crop_samples=2048, batch_size=8, seed=0)
    with pytest.warns(AudioWarning, match="training data: skipped a crop of"):
        batches = [ds.batch(i) for i in range(6)]
    assert all(torch.isfinite(b).all() for b in batches)
    assert {Path(p).name for p in ds.skipped} == {"garbage.wav", "garbage.flac", "nan.wav", "inf.wav"}
    assert "non-finite" in ds.skipped[str(folder / "nan.wav")]
    # The stream stays a function of (seed, index): a fresh dataset gives the same batches.
    again = AudioCropDataset([DataFolder(str(folder))], crop_samples=2048, batch_size=8, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioWarning)
        assert torch.equal(again.batch(5), batches[5])


def test_training_data_of_only_bad_files_is_a_clear_error(tmp_path, bad):
    from m2l2.training.config import DataFolder
    from m2l2.training.data import AudioCropDataset

    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "garbage.wav").write_bytes(bad["garbage-wav"].read_bytes())
    write_nonfinite(folder / "nan.wav", np.nan, n=1500)
    ds = AudioCropDataset([DataFolder(str(folder))], crop_samples=2048, batch_size=1, max_quiet_retries=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioWarning)
        with pytest.raises(M2L2Error, match="2 files skipped as unusable"):
            ds.batch(0)
