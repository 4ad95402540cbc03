"""Training the real Music2Latent2 (`tiny`): a resumable CLI run, and overfitting one clip on CPU."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch

m2l2 = pytest.importorskip("m2l2")
pytest.importorskip("m2l2.consistency", reason="needs the model's consistency loss")

from m2l2.checkpoint import list_checkpoints, read_inference_weights  # noqa: E402
from m2l2.training.config import TrainConfig  # noqa: E402
from m2l2.training.trainer import Trainer  # noqa: E402

SR = 44_100
# `tiny` shrunk further (16-frame chunks, narrower levels, one transformer block) so that a CPU step
# takes a fraction of a second; the structure (three modules, two-chunk consistency loss) is unchanged.
MICRO = [
    "model.chunk_frames=16",
    "model.level_channels=[8,16,32,64,64]",
    "model.dim=64",
    "model.depth=1",
    "model.heads=2",
]


@pytest.fixture
def one_thread():
    """One intra-op thread: on a busy 2-core machine two threads per process thrash (measured 7x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (the reference projected onto the estimate's scale)."""
    ref, est = ref - ref.mean(), est - est.mean()
    target = (est @ ref) / (ref @ ref + 1e-12) * ref
    return float(10 * np.log10((target @ target + 1e-12) / ((est - target) @ (est - target) + 1e-12)))


def clip(n: int) -> np.ndarray:
    """A harmonic note with an attack: structured enough to learn, loud enough to pass RMS rejection."""
    t = np.arange(n) / SR
    env = np.minimum(t / 0.01, 1.0) * np.exp(-3 * t)
    x = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in (1, 2, 3, 5))
    return (0.3 * env * x).astype(np.float32)


def reconstruction_si_sdr(model, audio: np.ndarray) -> float:
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        out = model.decode(model.encode(audio[None], SR), length=audio.size)
    return si_sdr(audio, out[0, 0].numpy())


def test_train_cli_runs_resumes_and_loads(tmp_path, one_thread):
    import argparse

    from m2l2.training.cli import register

    data = tmp_path / "data"
    data.mkdir()
    sf.write(str(data / "note.wav"), clip(SR), SR)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    common = [
        "train",
        "tiny",
        "--run-dir",
        str(tmp_path / "run"),
        "--set",
        *MICRO,
        f"train.data={data}",
        "train.batch_size=1",
        "train.total_steps=3",
        "train.num_workers=0",
        "train.checkpoint_minutes=0",
        "train.checkpoint_every=0",
        "train.log_every=1",
        "train.progress=false",
    ]
    args = parser.parse_args([*common, "--max-steps", "2"])
    assert args.func(args) == 0
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-00000002.json"]
    args = parser.parse_args([*common, "--resume"])
    assert args.func(args) == 0
    rows = [json.loads(r) for r in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in rows)
    cfg, state = read_inference_weights(tmp_path / "run")
    assert cfg["chunk_frames"] == 16
    model = m2l2.load(tmp_path / "run")
    assert torch.equal(model.state_dict()[next(iter(state))], next(iter(state.values())))
    lat = model.encode(clip(SR)[None], SR)
    assert model.decode(lat, length=SR).shape == (1, 1, SR)


@pytest.mark.slow
def test_tiny_model_overfits_one_clip(tmp_path, one_thread):
    """Reconstruction SI-SDR of the training clip rises clearly while the model trains on it alone."""
    steps = int(os.environ.get("M2L2_OVERFIT_STEPS", "100"))
    torch.manual_seed(0)
    model = m2l2.build("tiny", MICRO)
    audio = clip(model.train_samples)
    (tmp_path / "data").mkdir()
    sf.write(str(tmp_path / "data" / "note.wav"), audio, SR)
    cfg = TrainConfig(
        batch_size=2,
        lr=1e-3,
        lr_final=1e-4,
        warmup_steps=10,
        total_steps=steps,
        ema_decay=0.9,
        data=[str(tmp_path / "data")],
        num_workers=0,
        log_every=10,
        checkpoint_every=0,
        checkpoint_minutes=0,
        progress=False,
        seed=0,
    )
    before = reconstruction_si_sdr(model, audio)
    start = time.monotonic()
    tr = Trainer(model, cfg, tmp_path / "run", config={"model": model.config.to_dict()})
    tr.fit()
    after = reconstruction_si_sdr(model, audio)
    rows = [json.loads(r) for r in tr.log_path.read_text().splitlines()]
    print(
        f"SI-SDR {before:.2f} dB -> {after:.2f} dB after {steps} steps in {time.monotonic() - start:.0f} s; "
        f"loss {rows[0]['loss']:.3g} -> {rows[-1]['loss']:.3g}"
    )
    assert after > before + 10.0, (before, after)
