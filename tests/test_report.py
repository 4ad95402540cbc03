"""`m2l2 report`: the clip picks, the page and its media on a miniature configuration, and the page loaded
in a real browser (headless Chromium), which must find every audio source and image."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from benchmarks.config import config_from_dict
from benchmarks.experiments import RunOptions, run_experiment
from benchmarks.report import build_report, check_page, find_chromium
from benchmarks.report.select import pick_clips

pytest.importorskip("av", reason="the Opus row needs PyAV (pip install av)")
# CI sets M2L2_REQUIRE_BROWSER=1 (.ci/run): there a missing Chromium fails instead of skipping.
NEED_BROWSER = os.environ.get("M2L2_REQUIRE_BROWSER") == "1"


def test_picks_follow_the_metric_direction_and_never_repeat_a_clip():
    values = {"a": 3.0, "b": -1.0, "c": 10.0, "d": 2.0, "e": float("nan")}
    sisdr = pick_clips(values, "sisdr")  # higher is better; NaN left out; lower median of [10, 3, 2, -1]
    assert [(p.rank, p.clip) for p in sisdr] == [("best", "c"), ("median", "a"), ("worst", "b")]
    fad = pick_clips(values, "fad-musicnn")  # lower is better
    assert [(p.rank, p.clip) for p in fad] == [("best", "b"), ("median", "d"), ("worst", "c")]
    assert [p.rank for p in pick_clips({"x": 1.0, "y": 2.0}, "sisdr")] == ["best", "worst"]
    assert pick_clips({"x": None}, "sisdr") == []
    assert fad[0].caption() == "best per-song FAD_musicnn: -1.000"


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("audio", "img"):
            self.src += [v for k, v in attrs if k == "src"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from conftest import write_tone_clips

    tmp = tmp_path_factory.mktemp("report")
    clips = write_tone_clips(tmp / "clips", n=4, seconds=1.5, stereo=True)
    cfg = config_from_dict({
        "name": "mini",
        "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp / "cache"),
        "output_dir": str(tmp / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference", "options": {"channels": 2}},
                   {"name": "opus-6kbps", "label": "Opus 6 kbps", "kind": "codec"}],
        "metrics": ["sisdr", "fad-musicnn"],
        "eval": {"n_boot": 50, "fad_n_boot": 5, "batch": 4},
    })
    run_experiment("table2", cfg, RunOptions(progress=False))
    return build_report(cfg, progress=False)


def test_report_page_links_only_files_next_to_it(report):
    html = report.path.read_text()
    parser = _Sources()
    parser.feed(html)
    assert len(parser.src) == 3 * 4  # Opus: best/median/worst SI-SDR + FAD picks (4 clips): 3 of them x 2 x 2
    for src in parser.src:
        assert not src.startswith(("/", "http:", "https:", "file:")), src
        assert (report.path.parent / src).is_file(), src
    assert report.audio_files == 6 and report.images == 6  # 3 originals + 3 reconstructions each
    assert "Opus 6 kbps" in html and "reference row" in html
    assert any("Fig. 3" in n for n in report.notes)  # no Fig. 3 was run: said, not hidden


def _browser_or_skip() -> None:
    if find_chromium() is None:
        if NEED_BROWSER:
            pytest.fail("M2L2_REQUIRE_BROWSER=1 but no Chromium: run scripts/install_system_deps.sh")
        pytest.skip("no Chromium (make install installs Debian's chromium)")


def test_report_loads_in_headless_chromium(report, tmp_path):
    _browser_or_skip()
    check = check_page(report.path, tmp_path / "shot.png", height=900)
    assert check.failures == []
    assert (check.audio, check.images) == (6, 6)
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_browser_check_finds_a_missing_image_and_audio(report, tmp_path):
    _browser_or_skip()
    broken = tmp_path / "page"
    shutil.copytree(report.path.parent, broken)
    parser = _Sources()
    parser.feed(report.path.read_text())
    image = next(s for s in parser.src if s.endswith(".png"))
    audio = next(s for s in parser.src if s.endswith(".ogg"))
    (broken / image).unlink()
    (broken / audio).write_bytes(b"not audio")
    check = check_page(broken / "index.html")
    assert not check.ok
    text = "\n".join(check.failures)
    assert Path(image).name in text and "broken image" in text
    assert Path(audio).name in text and "audio did not load" in text


def test_report_without_results_and_check_without_chromium_say_what_to_do(tmp_path, monkeypatch):
    from benchmarks.report import browser
    from m2l2.errors import M2L2Error

    cfg = config_from_dict({
        "name": "none", "dataset": {"name": "folder", "root": str(tmp_path), "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference"}], "metrics": ["sisdr"],
    })
    with pytest.raises(M2L2Error, match=r"no Table II results .* run `m2l2 tables"):
        build_report(cfg, progress=False)
    monkeypatch.delenv("M2L2_CHROMIUM", raising=False)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(M2L2Error, match="no Chromium found.*make install"):
        check_page(tmp_path / "index.html")
