"""Training infrastructure without the real model: config, LR schedule, EMA, checkpoints, data, resume."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers_m2l2 import SR, ToyModel, make_data, toy_loss, toy_trainer, write_tone
from torch import nn
from torch.utils.data import DataLoader

from m2l2.checkpoint import (
    capture_rng_state,
    export_inference,
    list_checkpoints,
    load_checkpoint,
    read_inference_weights,
    restore_rng_state,
    save_checkpoint,
)
from m2l2.errors import M2L2Error
from m2l2.training.config import DataFolder, TrainConfig
from m2l2.training.data import AudioCropDataset, pick_channels, rms
from m2l2.training.trainer import EMA, Trainer, lr_at

# --- config ------------------------------------------------------------------------------------


def test_config_round_trip_and_errors():
    cfg = TrainConfig.from_dict(
        {"lr": "3e-4", "betas": [0.8, 0.99], "data": "/x:2,/y", "compile": "false", "total_steps": 1e3}
    )
    assert cfg.lr == 3e-4 and cfg.betas == (0.8, 0.99) and cfg.total_steps == 1000 and cfg.compile is False
    assert cfg.data == [DataFolder("/x", 2.0), DataFolder("/y", 1.0)]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"data": {"/m": 3}}).data == [DataFolder("/m", 3.0)]
    with pytest.raises(M2L2Error, match="unknown train option"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(M2L2Error, match="precision"):
        TrainConfig.from_dict({"precision": "fp8"})
    with pytest.raises(M2L2Error, match="weight must be > 0"):
        TrainConfig.from_dict({"data": [{"path": "/x", "weight": 0}]})
    with pytest.raises(M2L2Error, match="magnitude_weight"):
        TrainConfig.from_dict({"magnitude_weight": -1})
    with pytest.raises(M2L2Error, match="delta_t_start"):
        TrainConfig.from_dict({"delta_t_start": 0.01, "delta_t_end": 0.1})  # Δt must shrink
    with pytest.raises(M2L2Error, match="does not split"):
        TrainConfig(batch_size=6, grad_accum=4).micro_batch(world_size=1)
    assert TrainConfig(batch_size=16, grad_accum=2).micro_batch(world_size=4) == 2


def test_named_configs_train_sections_parse_and_round_trip():
    from m2l2.config import load_config, named_configs

    names = named_configs()
    assert {"paper", "tiny", "tiny-cpu-recipe"} <= set(names)
    for name in names:
        cfg = TrainConfig.from_dict(load_config(name)["train"])
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg, name  # what a run folder records reads back equal
        assert cfg.objective().weighting == cfg.loss_weighting


# --- LR schedule and EMA -----------------------------------------------------------------------


def test_lr_schedule_shape():
    cfg = TrainConfig(lr=1e-4, lr_final=1e-6, warmup_steps=100, total_steps=1100)
    lrs = np.array([lr_at(s, cfg) for s in range(1100)])
    assert lrs[0] == pytest.approx(1e-6) and lrs[99] == pytest.approx(1e-4)
    assert np.all(np.diff(lrs[:100]) > 0), "warm-up rises linearly"
    assert np.allclose(np.diff(lrs[:100]), 1e-6)
    assert np.all(np.diff(lrs[100:]) <= 0), "cosine decay never rises"
    assert lr_at(600, cfg) == pytest.approx((1e-4 + 1e-6) / 2), "half-way through the decay: the mean"
    assert lr_at(1100, cfg) == pytest.approx(1e-6) and lr_at(5000, cfg) == pytest.approx(1e-6)
    assert lr_at(0, TrainConfig(warmup_steps=0, total_steps=10)) == pytest.approx(1e-4)


def test_ema_update_and_apply():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    assert torch.allclose(ema.state_dict()["weight"], torch.full((1, 2), 0.1))
    ema.update(model)
    assert torch.allclose(ema.state_dict()["weight"], torch.full((1, 2), 0.19))
    with ema.applied(model):
        assert torch.allclose(model.weight, torch.full((1, 2), 0.19))
    assert torch.all(model.weight == 1.0), "live weights restored"


def test_ema_updates_once_per_optimizer_step(tmp_path):
    data = make_data(tmp_path / "data")
    tr = toy_trainer(tmp_path, data, grad_accum=2, total_steps=1, ema_decay=0.5, ema_warmup=False)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    after = tr.model.state_dict()
    for k in tr.ema.names:
        assert torch.allclose(tr.ema.state_dict()[k], 0.5 * before[k] + 0.5 * after[k], atol=1e-6)


def test_ema_warmup_follows_upstream_schedule(tmp_path):
    """Upstream's warm-up: decay min(d, (1 + n) / (10 + n)) at update n, so the first update keeps 2/11."""
    data = make_data(tmp_path / "data")
    tr = toy_trainer(tmp_path, data, total_steps=1, ema_decay=0.999)
    assert tr.ema.decay_at(1) == pytest.approx(2 / 11)
    assert tr.ema.decay_at(10**6) == 0.999
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    after = tr.model.state_dict()
    for k in tr.ema.names:
        assert torch.allclose(tr.ema.state_dict()[k], 2 / 11 * before[k] + 9 / 11 * after[k], atol=1e-6)


def test_grad_accumulation_divides_the_loss(tmp_path):
    """Two micro-batches of 2 give the mean of their gradients, like one batch of 4."""
    data = make_data(tmp_path / "data")
    fixed = AudioCropDataset([DataFolder(str(data / "a"))], crop_samples=256, batch_size=4, seed=0).batch(0)

    def no_noise(model, audio, step, total):
        return ((model.net(audio) - audio) ** 2).mean(), {}

    grads = {}
    for accum in (1, 2):
        tr = toy_trainer(tmp_path, data, run=f"r{accum}", grad_accum=accum, lr=1e-9, grad_clip=0)
        tr.loss_module.loss_fn = no_noise
        tr.train_step(iter([fixed] if accum == 1 else [fixed[:2], fixed[2:]]))
        grads[accum] = torch.cat([p.grad.flatten() for p in tr.model.parameters()])
    assert torch.allclose(grads[1], grads[2], rtol=1e-4, atol=1e-7)


def test_nan_guard_skips_the_step(tmp_path):
    data = make_data(tmp_path / "data")
    tr = toy_trainer(tmp_path, data, total_steps=3, max_bad_steps=1)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}

    def nan_loss(model, audio, step, total):
        return model.net(audio).mean() * float("nan"), {}

    tr.loss_module.loss_fn = nan_loss
    batches = iter(tr._loader())
    out = tr.train_step(batches)
    assert out["skipped"] and tr.step == 1
    for k, v in tr.model.state_dict().items():
        if k != "calls":
            assert torch.equal(v, before[k]), "a non-finite step leaves the weights alone"
    with pytest.raises(M2L2Error, match="non-finite"):
        tr.train_step(batches)


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_round_trip_no_pickle(tmp_path):
    model = ToyModel()
    opt = torch.optim.RAdam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    model.net.conv1.weight.sum().backward()
    opt.step()
    ema = {k: v + 1 for k, v in model.state_dict().items()}
    path = save_checkpoint(
        tmp_path,
        7,
        model.state_dict(),
        config={"model": {"dim": 4}, "train": {}},
        ema=ema,
        optimizer=opt.state_dict(),
        extra={"note": (1, 2)},
    )
    assert path.name == "step-00000007.json"
    meta = json.loads(path.read_text())
    assert meta["step"] == 7 and meta["config"]["model"] == {"dim": 4}
    raw = path.with_suffix(".safetensors").read_bytes()
    assert b"\x80\x04" not in raw[:16], "safetensors, not a pickle"
    ck = load_checkpoint(tmp_path)
    assert ck.step == 7 and ck.extra["note"] == [1, 2]
    for k, v in model.state_dict().items():
        assert torch.equal(ck.model[k], v) and torch.equal(ck.ema[k], ema[k])
    opt2 = torch.optim.RAdam(ToyModel().parameters(), lr=1e-3)
    opt2.load_state_dict(ck.optimizer)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["betas"] == (0.9, 0.999)
    for pid in s1["state"]:
        for key, v in s1["state"][pid].items():
            assert torch.equal(s2["state"][pid][key], v)
    cfg, weights = read_inference_weights(path)
    assert cfg == {"dim": 4} and torch.equal(weights["net.conv1.weight"], ema["net.conv1.weight"]), (
        "EMA preferred"
    )
    _, live = read_inference_weights(path, ema=False)
    assert torch.equal(live["net.conv1.weight"], model.net.conv1.weight)
    small = export_inference(path, tmp_path / "export")
    assert load_checkpoint(small).optimizer is None
    assert torch.equal(read_inference_weights(small)[1]["net.conv1.weight"], ema["net.conv1.weight"])


def test_checkpoint_keep_last_and_errors(tmp_path):
    sd = {"w": torch.ones(2)}
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, sd, config={}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000003.json", "step-00000004.json"]
    (tmp_path / "step-00000009.json").write_text("{}")  # sidecar without tensors: incomplete, ignored
    assert load_checkpoint(tmp_path).step == 4
    with pytest.raises(M2L2Error, match="not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(M2L2Error, match="no checkpoint"):
        load_checkpoint(tmp_path / "empty")
    bad = tmp_path / "bad" / "step-00000001.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"format": "other"}))
    bad.with_suffix(".safetensors").write_bytes(b"")
    with pytest.raises(M2L2Error, match="not an m2l2 checkpoint"):
        load_checkpoint(bad)


def test_rng_state_round_trip():
    import random

    state = json.loads(json.dumps(capture_rng_state()))
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


# --- data --------------------------------------------------------------------------------------


def test_data_crops_channels_and_quiet_rejection(tmp_path):
    data = make_data(tmp_path / "data")
    ds = AudioCropDataset([DataFolder(str(data / "b"))], crop_samples=4000, batch_size=8, channels=1, seed=1)
    batch = ds.batch(0)
    assert batch.shape == (8, 1, 4000) and batch.dtype == torch.float32
    assert all(rms(x.numpy()) >= 0.001 for x in batch), "silent file never returned"
    ds2 = AudioCropDataset(
        [DataFolder(str(data / "a"))], crop_samples=30_000, batch_size=6, channels=2, seed=1
    )
    assert ds2.batch(0).shape == (6, 2, 30_000)
    assert torch.equal(ds2.batch(5), ds2.batch(5)) and not torch.equal(ds2.batch(5), ds2.batch(6))
    stereo = np.stack([np.ones(10), -np.ones(10)])
    picks = {float(pick_channels(stereo, 1, np.random.default_rng(s))[0, 0]) for s in range(20)}
    assert picks == {1.0, -1.0}, "mono models see one random channel of a stereo file"
    silent = tmp_path / "silent"
    silent.mkdir()
    sf.write(str(silent / "s.wav"), np.zeros(1000, np.float32), SR)
    with pytest.raises(M2L2Error, match="quieter"):
        AudioCropDataset(
            [DataFolder(str(silent))], crop_samples=100, batch_size=1, max_quiet_retries=5
        ).batch(0)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not audio")
    with pytest.raises(M2L2Error, match="no audio files"):
        AudioCropDataset([DataFolder(str(tmp_path / "empty"))], crop_samples=100, batch_size=1)
    with pytest.raises(M2L2Error, match="not found"):
        AudioCropDataset([DataFolder(str(tmp_path / "missing"))], crop_samples=100, batch_size=1)


def test_data_resampling_keeps_pitch(tmp_path):
    """A 1 kHz tone stored at 22.05 kHz is still 1 kHz after the crop is resampled to 44.1 kHz."""
    write_tone(tmp_path / "d" / "low.wav", seconds=1.0, sr=22_050, freq=1000.0, amp=0.5)
    ds = AudioCropDataset([DataFolder(str(tmp_path / "d"))], crop_samples=8192, batch_size=1, seed=0)
    x = ds.batch(0)[0, 0].numpy()
    peak = np.argmax(np.abs(np.fft.rfft(x * np.hanning(x.size)))) * SR / x.size
    assert abs(peak - 1000.0) < 10 and 0.3 < np.max(np.abs(x)) < 0.6


def test_data_mixing_weights(tmp_path):
    for name, freq in (("lo", 200.0), ("hi", 4000.0)):
        write_tone(tmp_path / name / "x.wav", freq=freq)
    ds = AudioCropDataset(
        [DataFolder(str(tmp_path / "lo"), 3.0), DataFolder(str(tmp_path / "hi"), 1.0)],
        crop_samples=2048,
        batch_size=50,
        seed=0,
    )
    x = ds.batch(0).numpy()[:, 0]
    spec = np.abs(np.fft.rfft(x, axis=1))
    low = (np.argmax(spec, axis=1) * SR / 2048 < 1000).mean()
    assert 0.6 < low < 0.9, f"expected ~75% from the weight-3 folder, got {low:.0%}"


def test_data_stream_same_for_any_worker_count_and_rank_split(tmp_path):
    data = make_data(tmp_path / "data")
    folders = [DataFolder(str(data / "a")), DataFolder(str(data / "b"))]

    def take(workers, start=0, rank=0, world=1, n=4):
        ds = AudioCropDataset(
            folders, crop_samples=512, batch_size=2, seed=5, start=start, rank=rank, world_size=world
        )
        it = iter(DataLoader(ds, batch_size=None, num_workers=workers))
        return [next(it) for _ in range(n)]

    single = take(0, n=6)
    multi = take(2, n=6)
    assert all(torch.equal(a, b) for a, b in zip(single, multi))
    assert all(torch.equal(a, b) for a, b in zip(single[2:], take(0, start=2)))
    r0, r1 = take(0, rank=0, world=2, n=3), take(0, rank=1, world=2, n=3)
    assert all(torch.equal(a, b) for a, b in zip(r0, single[0::2])), "rank r takes global indices k*W+r"
    assert all(torch.equal(a, b) for a, b in zip(r1, single[1::2]))


# --- the loop ----------------------------------------------------------------------------------


def _flat(state):
    return {k: v.clone() for k, v in state.items()}


def test_resume_gives_identical_weights_lr_and_log(tmp_path):
    data = make_data(tmp_path / "data")
    straight = toy_trainer(tmp_path, data, run="straight")
    assert straight.fit() == 10
    half = toy_trainer(tmp_path, data, run="split")
    assert half.fit(until_step=5) == 5
    assert [p.name for p in list_checkpoints(half.ckpt_dir)] == ["step-00000005.json"]
    with pytest.raises(M2L2Error, match="--resume"):
        toy_trainer(tmp_path, data, run="split").fit()
    torch.manual_seed(123)  # a different initialisation and RNG state: resume must overwrite both
    rest = Trainer(ToyModel(), half.cfg, tmp_path / "split", loss_fn=toy_loss)
    assert rest.fit(resume=True) == 10
    for k, v in straight.model.state_dict().items():
        assert torch.equal(rest.model.state_dict()[k], v), k
        assert torch.equal(rest.ema.state_dict()[k], straight.ema.state_dict()[k]), k
    o1, o2 = straight.optimizer.state_dict()["state"], rest.optimizer.state_dict()["state"]
    assert all(torch.equal(o1[p]["exp_avg_sq"], o2[p]["exp_avg_sq"]) for p in o1)
    log_a = [json.loads(r) for r in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(r) for r in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_b] == list(range(1, 11))
    assert [r["lr"] for r in log_a] == [r["lr"] for r in log_b]
    assert [r["loss"] for r in log_a] == [r["loss"] for r in log_b], "same data and noise after resume"
    assert not math.isclose(log_a[0]["loss"], log_a[-1]["loss"])


def test_validation_and_periodic_checkpoints(tmp_path):
    data = make_data(tmp_path / "data")
    tr = toy_trainer(
        tmp_path,
        data,
        total_steps=6,
        val_data=str(data / "b"),
        val_every=3,
        val_batches=2,
        checkpoint_every=2,
        keep_last=2,
        log_every=2,
    )
    tr.fit()
    rows = [json.loads(r) for r in tr.log_path.read_text().splitlines()]
    val = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in val] == [3, 6] and all(np.isfinite(r["val_loss_ema"]) for r in val)
    assert val[1]["val_loss"] < val[0]["val_loss"], "fixed crops and noise: the loss goes down"
    assert tr.validate() == tr.validate(), "validation is deterministic"
    assert [p.name for p in list_checkpoints(tr.ckpt_dir)] == ["step-00000004.json", "step-00000006.json"]
    assert json.loads((tr.run_dir / "config.json").read_text())["train"]["total_steps"] == 6
    assert {"loss", "lr", "grad_norm", "steps_per_s", "noise_std"} <= set(rows[0])


def test_bf16_autocast_on_cpu_and_fp16_needs_gpu(tmp_path):
    data = make_data(tmp_path / "data")
    tr = toy_trainer(tmp_path, data, precision="bf16", total_steps=2)
    seen = []

    def spy(model, audio, step, total):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return toy_loss(model, audio, step, total)

    tr.loss_module.loss_fn = spy
    tr.fit()
    assert seen[0] == (True, torch.bfloat16) and not torch.is_autocast_enabled("cpu")
    assert np.isfinite(json.loads(tr.log_path.read_text().splitlines()[-1])["loss"])
    assert next(tr.model.parameters()).dtype == torch.float32, "weights stay fp32 under autocast"
    with pytest.raises(M2L2Error, match="fp16 needs a GPU"):
        toy_trainer(tmp_path, data, run="fp16", precision="fp16")


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("gcc") is None, reason="inductor needs a C compiler"
)
def test_compile_flag_compiles_submodules(tmp_path):
    from torch._dynamo.utils import counters

    data = make_data(tmp_path / "data")
    counters.clear()
    compiled = toy_trainer(tmp_path, data, run="c", compile=True, total_steps=2)
    compiled.fit()
    assert counters["frames"]["ok"] >= 1, "torch.compile traced the model's sub-module"
    eager = toy_trainer(tmp_path, data, run="e", total_steps=2)
    eager.fit()
    for a, b in zip(compiled.model.parameters(), eager.model.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert set(compiled.model.state_dict()) == set(eager.model.state_dict()), "no _orig_mod. prefixes"


def test_train_cli_errors(tmp_path):
    import argparse

    from m2l2.training.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "tiny", "--run-dir", str(tmp_path)])
    with pytest.raises(M2L2Error, match="no training data"):
        args.func(args)
    args = parser.parse_args(["train", "tiny", "--resume", "--set", f"train.data={tmp_path}"])
    with pytest.raises(M2L2Error, match=r"--resume without a run folder \(--run-dir\)"):
        args.func(args)
    args = parser.parse_args(["train", "tiny", "--set", "train.learning_rate=1"])
    with pytest.raises(M2L2Error, match="unknown train option"):
        args.func(args)
