"""Diagnostics in scripts/ whose numbers go into the model cards."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers_m2l2 import micro

from benchmarks.metrics.sisdr import si_sdr
from m2l2 import spectral

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _true_magnitude(audio: np.ndarray, chunk_frames: int) -> torch.Tensor:
    padded, _ = spectral.pad_for_chunks(torch.from_numpy(audio)[None], chunk_frames)
    return spectral.magnitude(spectral.to_spec(padded))


def test_with_magnitude_puts_a_spectrogram_back_in_place():
    ev = load_script("evaluate_checkpoint")
    rng = np.random.default_rng(0)
    n, frames = 3 * 64 * spectral.HOP + 1000, 64  # not a whole number of chunks: exercises the padding
    t = np.arange(n) / spectral.SAMPLE_RATE
    clip = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.25)).astype(np.float32)[None]
    noise = (0.1 * rng.standard_normal(n)).astype(np.float32)[None]
    # own magnitude and own phase → the clip itself
    same = ev.with_magnitude(clip, _true_magnitude(clip, frames), frames)
    assert same.shape == clip.shape
    assert si_sdr(clip, same).value > 40
    # the clip's magnitude on another signal's phase → the clip's magnitude, not the noise's
    swapped = ev.with_magnitude(noise, _true_magnitude(clip, frames), frames)
    err_to_clip = (_true_magnitude(swapped, frames) - _true_magnitude(clip, frames)).abs().mean()
    err_to_noise = (_true_magnitude(swapped, frames) - _true_magnitude(noise, frames)).abs().mean()
    assert err_to_clip < 0.5 * err_to_noise


def test_head_magnitude_covers_every_chunk():
    ev = load_script("evaluate_checkpoint")
    model = micro(extra=("model.magnitude_head=true",))
    latents = torch.zeros(2, 3, *model.config.latent_shape)
    head = ev.head_magnitude(model, latents)
    assert head.shape == (2, model.channels, spectral.FREQ_BINS, 3 * model.config.chunk_frames)
    first = model.decoder.magnitude(model.decoder(latents[:, 0]))
    torch.testing.assert_close(head[..., : model.config.chunk_frames], first)


def test_evaluate_checkpoint_says_where_the_clips_are_missing(tmp_path, monkeypatch):
    ev = load_script("evaluate_checkpoint")
    monkeypatch.setattr("sys.argv", ["evaluate_checkpoint.py", "no-such-checkpoint", str(tmp_path / "out.json"),
                                     "--eval-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="no .flac clips in .*make data"):
        ev.main()
    assert not (tmp_path / "out.json").exists()


def test_make_card_refuses_a_one_clip_evaluation(tmp_path):
    card = load_script("make_card")
    one_clip = tmp_path / "ev.json"
    one_clip.write_text(json.dumps({"clips": 1, "identification": None}))
    args = SimpleNamespace(out_dir=tmp_path / "card", eval_json=one_clip, notes=None)
    with pytest.raises(SystemExit, match="at least 2.*--clips 24"):
        card.write_card(args, {"config": {}}, [])


def test_make_card_writes_the_probe_dynamics_and_the_runs_own_data(tmp_path, monkeypatch):
    card = load_script("make_card")
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"model": {"latent_kind": "ordered"},
           "train": {"batch_size": 4, "recon_clips": 8, "recon_seconds": 3.0,
                     "data": [{"path": "/data/gates/train", "weight": 1.0}],
                     "recon_data": [{"path": "/data/gates/dev", "weight": 1.0}]}}
    (run / "config.json").write_text(json.dumps(cfg))
    rows = [{"step": 25, "loss": 2.0, "steps_per_s": 1.0, "time": 0.0},
            {"step": 50, "loss": 1.0, "steps_per_s": 1.2, "time": 20.0},
            {"step": 50, "recon_si_sdr": -40.0, "recon_dyncorr": 0.25, "recon_lsd_0_250": 9.0, "time": 21.0}]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "tiny-x"
    monkeypatch.setattr("sys.argv", ["make_card.py", str(run), str(out), "--hardware", "test box"])
    card.main()
    text = (out / "MODEL_CARD.md").read_text()
    assert "`/data/gates/train`" in text and "reconstruction probe: `/data/gates/dev`" in text
    assert "| step | recon_si_sdr | recon_dyncorr | recon_lsd_0_250 |" in text and "| 50 | -40 | 0.25 | 9 |" in text
    assert "val_loss" not in text and "test box" in text and "8 fixed 3-s excerpts" in text
    assert json.loads((out / "summary.json").read_text())["audio_seconds_per_s_median"] == pytest.approx(
        1.2 * 4 * 67_072 / 44_100)
