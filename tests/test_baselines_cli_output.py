"""`m2l2 baselines reconstruct` refuses an output it cannot write, or one that is its input, before it builds
an adapter or reads any audio: one `m2l2: error:` line in the convention, exit status 2, the input kept."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

import baselines
from m2l2.cli import main

ERROR_LINE = re.compile(r"^m2l2: error: .+ \(.+\): .+$")


class AdapterBuilt(Exception):
    """Raised by the stand-in registry: the command got as far as building an adapter."""


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "in.wav"
    sf.write(str(path), (0.1 * np.sin(np.arange(4410) / 10)).astype(np.float32), 44_100)
    return path


@pytest.fixture
def no_adapter(monkeypatch):
    """Building any adapter fails the test: the refusal must come first."""

    def build(name, **options):
        raise AdapterBuilt(name)

    monkeypatch.setattr(baselines, "get", build)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), err
    return lines[0]


@pytest.mark.parametrize("name", ["out.xyz", "out"])
def test_unknown_output_extension_is_refused_before_the_adapter_is_built(
    tmp_path, clip, capsys, no_adapter, name
):
    out = tmp_path / name
    assert main(["baselines", "reconstruct", "identity", str(clip), str(out)]) == 2
    line = one_error_line(capsys)
    assert "unknown output extension" in line and str(out) in line and ".wav" in line
    assert not out.exists()


def test_output_that_is_the_input_is_refused_before_the_adapter_is_built(tmp_path, clip, capsys, no_adapter):
    before = clip.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(clip)
    for out in (clip, link):
        assert main(["baselines", "reconstruct", "identity", str(clip), str(out)]) == 2
        assert "the output is the input" in one_error_line(capsys)
    assert clip.read_bytes() == before


def test_a_writable_output_goes_on_to_build_the_adapter(tmp_path, clip, no_adapter):
    with pytest.raises(AdapterBuilt):  # the stand-in is reached: the checks above ran before it
        main(["baselines", "reconstruct", "identity", str(clip), str(tmp_path / "out.flac")])
