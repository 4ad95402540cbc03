"""Third-party autoencoders join without editing this project: an entry point and a YAML file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import baselines
from m2l2.cli import main as cli_main
from m2l2.errors import M2L2Error

FIXTURES = Path(__file__).parent / "fixtures" / "baselines"
PLUGIN_DIR = FIXTURES / "toy_plugin"  # holds m2l2_toy_plugin/ and its m2l2_toy_plugin-0.1.0.dist-info/
YAML = FIXTURES / "toy_autoencoders.yaml"
REPO = Path(__file__).resolve().parents[1]


def clip(sr: int = 44100, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


@pytest.fixture
def plugin_on_path(monkeypatch):
    """The simulated installed package: a module plus a dist-info with an entry point, on sys.path."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield
    sys.modules.pop("m2l2_toy_plugin", None)


def test_entry_point_plugin_is_listed_and_reconstructs(plugin_on_path, capsys):
    infos = {i.name: i for i in baselines.available()}
    assert "toy-blockmean" in infos
    assert infos["toy-blockmean"].source == "entry point of m2l2-toy-plugin"
    assert infos["toy-blockmean"].state == "ready"
    assert cli_main(["baselines", "list"]) == 0
    assert "toy-blockmean" in capsys.readouterr().out

    ae = baselines.get("toy-blockmean", factor=2)
    assert ae.compression_ratio == pytest.approx(2.0)  # 16-bit at 16 kHz vs one 16-bit value per 2 samples
    x = clip()
    y = baselines.reconstruct(ae, x, 44100)  # 44.1 kHz in, the plug-in runs at 16 kHz, 44.1 kHz out
    assert y.shape == x.shape
    err = np.mean((x[2000:-2000] - y[2000:-2000]) ** 2) / np.mean(x**2)
    assert err < 0.05  # a 300 Hz tone survives 2-sample block means at 16 kHz


def test_plugin_appears_in_a_fresh_process_without_touching_the_project(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), str(REPO)])}
    out = subprocess.run(
        [sys.executable, "-m", "m2l2.cli", "baselines", "list"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "toy-blockmean" in out.stdout and "entry point of m2l2-toy-plugin" in out.stdout


def test_yaml_named_adapter_via_env_and_cli(monkeypatch, capsys):
    monkeypatch.setenv("M2L2_AUTOENCODERS", str(YAML))
    try:
        ae = baselines.get("toy-quantize")
        assert ae.bits == 4 and ae.compression_ratio == pytest.approx(4.0)
        x = clip(8000)
        y = baselines.reconstruct(ae, x, 8000)
        assert y.shape == x.shape and np.max(np.abs(x - y)) <= 1 / 8 + 1e-6  # 4-bit steps of 1/8
        assert baselines.get("toy-quantize", bits=8).bits == 8  # options override YAML args
    finally:
        sys.modules.pop("toy_yaml_ae", None)
    monkeypatch.delenv("M2L2_AUTOENCODERS")
    assert cli_main(["baselines", "list", "--autoencoders", str(YAML)]) == 0
    assert "toy-quantize" in capsys.readouterr().out


def test_cli_reconstruct_refuses_random_weights_unless_asked(tmp_path, capsys):
    pytest.importorskip("m2l2.autoencoder")
    from m2l2.audio import load_audio, save_audio

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    save_audio(src, clip()[None], 44100)
    assert cli_main(["baselines", "reconstruct", "music2latent2:build=tiny", str(src), str(dst)]) == 2
    assert "pretrained" in capsys.readouterr().err
    assert cli_main(["baselines", "reconstruct", "identity", str(src), str(dst)]) == 0
    out, sr = load_audio(dst)
    assert sr == 44100 and out.shape == (1, 22050)


def test_bad_yaml_and_bad_targets_fail_with_clear_messages(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("autoencoders:\n  x: {args: {}}\n")
    with pytest.raises(M2L2Error, match="import"):
        baselines.registry.load_yaml(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("autoencoders:\n  y: {import: 'collections:OrderedDict'}\n  z: {import: 'no_such_mod:X'}\n")
    specs = {s.name: s for s in baselines.registry.load_yaml(wrong)}
    with pytest.raises(M2L2Error, match="not a baselines.Autoencoder"):
        specs["y"].build()
    with pytest.raises(M2L2Error, match="cannot import"):
        specs["z"].build()
    with pytest.raises(M2L2Error, match="bad options"):
        baselines.get("identity", no_such_option=1)
