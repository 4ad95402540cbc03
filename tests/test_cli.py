"""The model's command line: round trip through files, info, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers_m2l2 import MICRO_YAML

from m2l2.cli import main
from m2l2.latent_file import load_latents


@pytest.fixture()
def micro_yaml(tmp_path):
    path = tmp_path / "micro.yaml"
    path.write_text(MICRO_YAML)
    return str(path)


@pytest.fixture()
def clip(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "clip.wav"
    sf.write(path, (rng.standard_normal((22_050 * 2, 2)) * 0.1).astype(np.float32), 22_050)  # stereo 22.05k, 2 s
    return path


def test_encode_decode_round_trip(tmp_path, micro_yaml, clip):
    lat = tmp_path / "clip.safetensors"
    out = tmp_path / "out.wav"
    assert main(["encode", str(clip), str(lat), "--untrained", micro_yaml]) == 0
    latents, meta = load_latents(lat)
    assert latents.shape == (1, 3, 8, 64) and meta["length"] == 88_200 and meta["source_rate"] == 22_050
    assert main(["decode", str(lat), str(out), "--untrained", micro_yaml, "--sigma-cond", "0.2"]) == 0
    audio, sr = sf.read(out)
    assert sr == 44_100 and audio.shape == (88_200,)  # mono model, length of the input at 44.1 kHz
    par = tmp_path / "par.wav"
    assert main(["decode", str(lat), str(par), "--untrained", micro_yaml, "--mode", "parallel", "--max-batch", "2"]) == 0
    assert sf.read(par)[0].shape == (88_200,)


def test_one_step_flag_keeps_each_chunks_first_decode(tmp_path, micro_yaml, clip, monkeypatch):
    from m2l2 import decoding

    seen, decode_blocks = [], decoding.decode_blocks
    monkeypatch.setattr(decoding, "decode_blocks",
                        lambda model, latents, how, *a, **k: seen.append(how.redecode_previous)
                        or decode_blocks(model, latents, how, *a, **k))
    for flags in ([], ["--one-step"]):
        assert main(["reconstruct", str(clip), str(tmp_path / "rec.wav"), "--untrained", micro_yaml, *flags]) == 0
    assert seen == [True, False]


def test_reconstruct_and_info(tmp_path, micro_yaml, clip, capsys):
    out = tmp_path / "rec.flac"
    assert main(["reconstruct", str(clip), str(out), "--untrained", micro_yaml, "--steps", "2"]) == 0
    assert sf.info(out).frames == 88_200
    assert main(["info", "tiny-ordered"]) == 0
    text = capsys.readouterr().out
    assert "compression ratio: 64x" in text and "latent kind: ordered" in text and "total" in text


def test_clear_errors(tmp_path, micro_yaml, clip, capsys):
    missing = tmp_path / "nope.wav"
    assert main(["encode", str(missing), str(tmp_path / "x.safetensors"), "--untrained", micro_yaml]) == 2
    assert "audio file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio")
    assert main(["reconstruct", str(bad), str(tmp_path / "y.wav"), "--untrained", micro_yaml]) == 2
    assert "bad.wav" in capsys.readouterr().err
    assert main(["reconstruct", str(clip), str(tmp_path / "y.wav"), "--checkpoint", str(tmp_path / "none")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["reconstruct", str(clip), str(tmp_path / "y.wav")]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    not_latents = tmp_path / "z.safetensors"
    not_latents.write_bytes(b"garbage")
    assert main(["decode", str(not_latents), str(tmp_path / "z.wav"), "--untrained", micro_yaml]) == 2
    assert "latent file" in capsys.readouterr().err
    assert main(["info", "no-such-config"]) == 2
    assert "unknown configuration" in capsys.readouterr().err


def test_decode_rejects_latents_of_another_model(tmp_path, micro_yaml, clip, capsys):
    lat = tmp_path / "clip.safetensors"
    assert main(["encode", str(clip), str(lat), "--untrained", micro_yaml]) == 0
    assert main(["decode", str(lat), str(tmp_path / "o.wav"), "--untrained", "tiny"]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_trained_checkpoint_round_trip(tmp_path, micro_yaml, clip):
    """m2l2.load reads what the training code saves (EMA weights) and gives the same model back."""
    import m2l2
    from m2l2.checkpoint import save_checkpoint
    from m2l2.config import load_config

    cfg = load_config(micro_yaml)
    model = m2l2.build(cfg)
    ema = {k: v + 1.0 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    save_checkpoint(tmp_path / "run", 5, model.state_dict(), ema=ema, config=cfg)
    loaded = m2l2.load(tmp_path / "run")
    assert all(torch.equal(loaded.state_dict()[k], ema[k]) for k in ema)
    assert main(["reconstruct", str(clip), str(tmp_path / "r.wav"), "--checkpoint", str(tmp_path / "run")]) == 0


def test_the_core_names_no_upper_package_and_plugins_add_their_commands():
    # m2l2 (the core) must not import baselines/benchmarks by name: their commands come from the
    # `m2l2.commands` entry points that pyproject.toml declares.
    import ast
    from pathlib import Path

    from m2l2.cli import build_parser, command_modules

    root = Path(__file__).resolve().parents[1] / "m2l2"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        upward = [x for x in names + strings if x.split(".")[0] in ("baselines", "benchmarks") and " " not in x]
        assert not upward, (path, upward)
    assert {"benchmarks.cli", "baselines.cli", "benchmarks.weights_cli"} <= set(command_modules())
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"encode", "train", "tables", "weights", "compare"} <= set(commands)


def test_every_command_and_option_has_help_text():
    import argparse

    from m2l2.cli import build_parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                for name, child in action.choices.items():
                    if not helps.get(name):
                        missing.append(" ".join([*path, name]))
                    walk(child, [*path, name])
            elif action.help is None and not isinstance(action, argparse._HelpAction):
                missing.append(f"{' '.join(path)} {action.option_strings or action.dest}")

    walk(build_parser(), [])
    assert not missing, missing
