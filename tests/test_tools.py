"""The investigation tools in tools/ (training gates, the GPU training run), on micro models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_m2l2 import micro

from m2l2 import spectral

TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(TOOLS) not in sys.path:  # the tools import each other as scripts do (tools/ is their folder)
    sys.path.insert(0, str(TOOLS))


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gate_dev_split_holds_out_whole_tracks(tmp_path):
    gates = load_script("training_gates")
    for track in range(20):
        for clip in range(2):
            (tmp_path / f"track{track:02d}-{clip}.flac").touch()
    train, dev = gates.dev_split(tmp_path)
    track = lambda f: f.stem.rsplit("-", 1)[0]  # noqa: E731
    assert dev and {track(f) for f in train}.isdisjoint({track(f) for f in dev})
    assert len(train) + len(dev) == 40 and len({track(f) for f in dev}) == 2  # every 8th of 20 tracks


def test_gate_dev_scores_carry_the_unrelated_clip_reference():
    gates = load_script("training_gates")
    model = micro()
    n = 2 * model.train_samples
    t = np.arange(n) / spectral.SAMPLE_RATE
    clips = [(0.3 * np.sin(2 * np.pi * f * t) * (t % p < p / 2)).astype(np.float32)[None]
             for f, p in ((220, 0.3), (330, 0.5), (440, 0.7))]
    out = gates.score_dev(model, clips)
    assert {"one_step_dyncorr", "two_step_si_sdr", "unrelated_si_sdr", "unrelated_dyncorr"} <= out.keys()
    assert out["unrelated_dyncorr"] < 0.9  # different rhythms: clip i against clip i + 1 is not a match


def test_gpu_train_trains_for_its_time_and_brings_back_loadable_ema_weights(tmp_path):
    import sys

    import soundfile as sf
    from helpers_m2l2 import MICRO

    import m2l2

    sys.path.insert(0, str(TOOLS))  # gpu_train imports training_gates as the script itself does
    try:
        trainer = load_script("gpu_train")
        data = tmp_path / "data"
        data.mkdir()
        t = np.arange(3 * spectral.SAMPLE_RATE) / spectral.SAMPLE_RATE
        for i in range(2):
            sf.write(data / f"clip{i}.wav", 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t), spectral.SAMPLE_RATE)
        out = trainer.train_for(tmp_path / "out", data, "tiny", list(MICRO), batch=1, minutes=0.02,
                                schedule_steps=10_000, cuda=False)
    finally:
        sys.path.remove(str(TOOLS))
    assert 0 < out["steps"] < 10_000  # stopped by the clock, not by the schedule
    assert not (tmp_path / "out" / "run" / "checkpoints").exists()  # optimizer state is not brought back
    model = m2l2.load(tmp_path / "out" / "ema")
    assert model.config.frequency_scaling  # the gate-3 options were applied


def test_gate_dev_without_a_checkpoint_and_gpu_train_without_data_say_what_is_missing(tmp_path):
    import sys

    from m2l2.errors import M2L2Error

    gates = load_script("training_gates")
    with pytest.raises(SystemExit, match="dev needs --checkpoint"):
        gates.main(["dev", str(tmp_path)])
    sys.path.insert(0, str(TOOLS))
    try:
        trainer = load_script("gpu_train")
        with pytest.raises(M2L2Error, match=r"data folder not found \(.*no-such-folder"):
            trainer.train_for(tmp_path / "out", tmp_path / "no-such-folder", "tiny", [], batch=1, minutes=1.0,
                              schedule_steps=10, cuda=False)
    finally:
        sys.path.remove(str(TOOLS))
