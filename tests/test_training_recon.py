"""Reconstruction probe in the training log, the STOP file, and starting a run from exported weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers_m2l2 import MICRO_MODEL, make_data, toy_trainer, write_tone

from m2l2.checkpoint import export_inference, list_checkpoints, read_inference_weights
from m2l2.training.recon import (
    BANDS,
    ReconstructionProbe,
    band_log_spectral_error,
    dynamics_correlation,
    si_sdr,
)


def test_si_sdr_and_band_error_closed_forms():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((1, 44_100)).astype(np.float32)
    assert si_sdr(ref, 3.0 * ref) > 100, "scale-invariant: a scaled copy is perfect"
    noise = rng.standard_normal(ref.shape).astype(np.float32)
    assert si_sdr(ref, ref + 0.1 * noise) == pytest.approx(20.0, abs=0.3)
    assert np.isnan(si_sdr(np.zeros_like(ref), ref)), "silent reference: undefined"
    same = band_log_spectral_error(ref, ref)
    assert len(same) == len(BANDS) and max(same) == 0.0
    t = np.arange(44_100) / 44_100
    low_only = (ref + np.sin(2 * np.pi * 100 * t) * 30).astype(np.float32)
    err = band_log_spectral_error(ref, low_only)
    assert err[0] > 5 * max(err[2:]), "a loud 100 Hz tone changes only the lowest band"


def test_dynamics_correlation_matches_the_reference_tool():
    """Values of the issue's reference script (`dyncorr.py`, float32 input) on the same signals, recorded
    with: x a swept tone with 3 Hz tremolo plus a 1.5 kHz tone from 1 s (2 s at 44.1 kHz), y = x + 0.5·N(0, 1)
    (NumPy default_rng(0)), z = x delayed by 0.5 s (np.roll)."""
    sr = 44_100
    t = np.arange(2 * sr) / sr
    x = np.sin(2 * np.pi * (220 + 200 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = (x + 0.3 * np.sin(2 * np.pi * 1500 * t) * (t > 1)).astype(np.float32)
    y = (x + 0.5 * np.random.default_rng(0).standard_normal(x.shape)).astype(np.float32)
    assert dynamics_correlation(x, y) == pytest.approx(0.5910933613777161, abs=1e-6)
    assert dynamics_correlation(x, np.roll(x, sr // 2)) == pytest.approx(-0.07412973046302795, abs=1e-6)
    assert dynamics_correlation(x, x) == pytest.approx(1.0)
    assert dynamics_correlation(x[None], np.stack([x, x])) == pytest.approx(1.0), "mono mix of [C, N]"


def test_probe_logs_ema_reconstruction_and_restores_weights(tmp_path):
    m2l2 = pytest.importorskip("m2l2")
    data = make_data(tmp_path / "data")
    torch.manual_seed(0)
    model = m2l2.build(MICRO_MODEL)
    tr = toy_trainer(tmp_path, data, val_data=str(data / "a"), recon_clips=2, recon_seconds=0.3)
    tr.model, tr.ema = model, type(tr.ema)(model, 0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for v in tr.ema.shadow.values():
            if v.is_floating_point():
                v.add_(0.01)
    first = tr.reconstruct()
    ema_keys = {"recon_si_sdr", "recon_dyncorr", "recon_rms_ratio", "recon_one_step_dyncorr",
                "recon_one_step_dyncorr_other", "recon_one_step_rms_ratio", *(f"recon_lsd_{int(a)}_{int(b)}" for a, b in BANDS)}
    assert ema_keys <= set(first) and {k.replace("recon_", "recon_raw_", 1) for k in ema_keys} <= set(first)
    assert first["recon_dyncorr"] != first["recon_raw_dyncorr"]  # the EMA was shifted, the live weights not
    assert all(np.isfinite(v) for v in first.values())
    assert tr.reconstruct() == first, "same excerpts, same decoding noise"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "live weights restored"
    probe = ReconstructionProbe.from_folders([str(data / "a")], 2, 0.3, 1)
    assert len(probe.clips) == 2 and probe.clips[0].shape == (1, int(0.3 * 44_100))


class _EchoModel:
    """Encodes a clip as itself and decodes latents as themselves: decoding reads nothing but the latents."""

    train_samples = 10**9  # no training-length crops: the own/other denoising errors are skipped

    def encode(self, audio, sample_rate):
        return audio.clone()

    def decode(self, latents, length, generator=None, redecode_previous=True):
        return latents[..., :length]


def test_other_latents_floor_separates_a_decoder_that_reads_its_latents():
    rng = np.random.default_rng(0)
    t = np.arange(44_100) / 44_100
    clips = [np.float32(np.sin(2 * np.pi * 440 * t) * envelope + 0.01 * rng.standard_normal(t.size))[None]
             for envelope in (np.sin(2 * np.pi * 1.5 * t) ** 2, np.exp(-3 * t), t)]
    out = ReconstructionProbe(clips, ["a", "b", "c"]).evaluate(_EchoModel())
    assert out["recon_one_step_dyncorr"] == pytest.approx(1.0)
    assert out["recon_one_step_dyncorr_other"] < 0.5


def test_stop_file_ends_the_run_with_a_checkpoint(tmp_path):
    data = make_data(tmp_path / "data")
    tr = toy_trainer(tmp_path, data, total_steps=50)
    tr.run_dir.mkdir(parents=True)
    (tr.run_dir / "STOP").touch()
    assert tr.fit() == 1
    assert [p.name for p in list_checkpoints(tr.ckpt_dir)] == ["step-00000001.json"]


def test_init_from_starts_a_new_run_with_a_fresh_ema_warm_up(tmp_path):
    # A new run from exported weights starts at step 0 with the EMA warm-up restarted: after 3 steps the EMA
    # has moved most of the way the live weights moved. Continuing the parent's count (decay 0.998 after
    # thousands of steps) left it at ~1 % and hid what the new run did.
    data = make_data(tmp_path / "data")
    first = toy_trainer(tmp_path, data, run="first", total_steps=4)
    first.fit()
    exported = export_inference(first.ckpt_dir, tmp_path / "export")
    _, start = read_inference_weights(exported)
    second = toy_trainer(tmp_path, data, run="second", total_steps=3)
    second.cfg.ema_decay = 0.999
    assert second.init_from(exported) == 0
    assert all(torch.equal(start[k], v) for k, v in second.model.state_dict().items())
    assert second.fit() == 3
    rows = [json.loads(r) for r in second.log_path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert json.loads((second.run_dir / "config.json").read_text())["init_from"]["step"] == 4
    live, ema = second.model.state_dict(), second.ema.state_dict()
    moved = sum(float((live[k] - start[k]).norm()) for k in second.ema.names)
    lag = sum(float((live[k] - ema[k]).norm()) for k in second.ema.names)
    assert moved > 0 and lag < 0.5 * moved


def test_train_cli_init_from_exported_weights(tmp_path):
    import argparse

    from m2l2.errors import M2L2Error
    from m2l2.training.cli import register
    write_tone(tmp_path / "data" / "a.wav", seconds=1.0)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    micro = [f"model.{k}={json.dumps(v)}" for k, v in MICRO_MODEL.items()]
    common = ["train", "tiny", "--set", *micro, f"train.data={tmp_path / 'data'}", "train.batch_size=1",
              "train.total_steps=4", "train.num_workers=0", "train.checkpoint_minutes=0", "train.log_every=1",
              "train.progress=false"]
    args = parser.parse_args([*common, "--run-dir", str(tmp_path / "first"), "--max-steps", "2"])
    assert args.func(args) == 0
    exported = export_inference(tmp_path / "first" / "checkpoints", tmp_path / "export")
    args = parser.parse_args([*common, "--run-dir", str(tmp_path / "second"), "--init-from", str(exported)])
    assert args.func(args) == 0
    rows = [json.loads(r) for r in (tmp_path / "second" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    args = parser.parse_args([*common, "--run-dir", str(tmp_path / "x"), "--init-from", str(exported), "--resume"])
    with pytest.raises(M2L2Error, match="both --resume and --init-from given"):
        args.func(args)
