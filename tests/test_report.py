"""`m2l2 report`: the clip picks, the page and its media on a miniature configuration, what the page tells a
reader beside the numbers (why a cell is empty, units, denoiser checkpoints, clip counts, spectrogram axes),
and the page loaded in a real browser (headless Chromium), which must find every audio source and image."""

from __future__ import annotations

import json
import os
import re
import shutil
from html import unescape
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


REPO = Path(__file__).resolve().parents[1]
DENOISER = "M2L2 denoiser"


def write_denoiser_checkpoint(folder: Path, train: dict | None) -> Path:
    """A micro model saved as trained weights (step 1) with the `train:` options of its recipe (None: the
    sidecar records none), and a model card beside it as the committed checkpoints have."""
    import torch
    from helpers_m2l2 import MICRO_FAST

    import m2l2
    from m2l2.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = m2l2.build("tiny", MICRO_FAST)
    config = {"model": model.config.to_dict(), **({"train": train} if train is not None else {})}
    save_checkpoint(folder, 1, model.state_dict(), config=config)
    (folder / "MODEL_CARD.md").write_text("# micro denoiser\n")
    return folder


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """The miniature configuration, its Table II run: two rows without weights, one micro Music2Latent2
    trained as a denoiser (Δt = 1, as the committed `tiny` ones); VGGish weights absent, so its FAD column is
    empty with a reason."""
    from conftest import write_tone_clips

    tmp = tmp_path_factory.mktemp("report")
    clips = write_tone_clips(tmp / "clips", n=4, seconds=1.5, stereo=True)
    denoiser = write_denoiser_checkpoint(tmp / "tiny-denoiser", {"delta_t_start": 1.0, "delta_t_end": 1.0})
    cfg = config_from_dict({
        "name": "mini",
        "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp / "cache"),
        "output_dir": str(tmp / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference", "options": {"channels": 2}},
                   {"name": "opus-6kbps", "label": "Opus 6 kbps", "kind": "codec"},
                   {"name": "music2latent2", "label": DENOISER, "options": {"checkpoint": str(denoiser)}}],
        "metrics": ["sisdr", "fad-musicnn", "fad-vggish"],
        "eval": {"n_boot": 50, "fad_n_boot": 5, "batch": 4},
    })
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("M2L2_WEIGHTS_DIR", str(tmp / "no-weights"))
        run_experiment("table2", cfg, RunOptions(progress=False))
    return cfg


@pytest.fixture(scope="module")
def report(mini):
    return build_report(mini, progress=False)


def _sections(html: str) -> dict[str, str]:
    """The HTML of each model's section, by its heading."""
    parts = re.split(r'<h2 id="m-[^"]*">', html)[1:]
    return {unescape(p.split("</h2>", 1)[0]): p for p in parts}


def _summary_rows(html: str) -> dict[str, str]:
    """Table II's rows on the page, by model label."""
    table = html.split("<h2>Table II</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td><a href=\"#[^\"]*\">([^<]*)</a>(.*?)</tr>", table)
    return {unescape(label): rest for label, rest in rows}


def test_report_page_links_only_files_next_to_it(report):
    html = report.path.read_text()
    parser = _Sources()
    parser.feed(html)
    for src in parser.src:
        assert not src.startswith(("/", "http:", "https:", "file:")), src
        assert (report.path.parent / src).is_file(), src
    opus = _Sources()
    opus.feed(_sections(html)["Opus 6 kbps"])
    assert len(opus.src) == 3 * 4  # best/median/worst SI-SDR + FAD picks (4 clips): 3 of them x 2 x 2
    assert report.audio_files == report.images == len(set(parser.src)) // 2
    assert "Opus 6 kbps" in html and "reference row" in html
    assert any("Fig. 3" in n for n in report.notes)  # no Fig. 3 was run: said, not hidden


def test_every_empty_cell_says_why_as_the_markdown_table_does(mini, report):
    from benchmarks.rendering.common import footnotes
    from benchmarks.rendering.table2 import build_rows
    from benchmarks.report.page import ModelView, Page, render_page
    from benchmarks.store import read_result

    html = unescape(report.path.read_text())
    _, _, notes = build_rows(read_result(Path(mini.output_dir) / "table2" / "mini.json"), None)
    assert notes == ["fad-vggish: weights missing: vggish-10086976.pth"]
    for line in footnotes(notes):  # "n/c^1: not computed — fad-vggish: weights missing: ..."
        assert line.replace("n/c^1", "n/c<sup>1</sup>") in html
    rows = _summary_rows(html)
    for label in ("Identity", "Opus 6 kbps", DENOISER):
        assert "n/c<sup>1</sup>" in rows[label] and "—" not in rows[label]
        assert re.search(r"\] \(4/\d+\)</td>", rows[label])  # FAD_musicnn with its (n/F)
    skipped = ModelView("X", {}, [], "not evaluated: weights missing: x.pt")  # a row without numbers
    row = _summary_rows(render_page(Page("t", "d", "p", ["sisdr", "fad-vggish"], [skipped])))["X"]
    assert row == '</td><td colspan="2" class="note">not evaluated: weights missing: x.pt</td>'


def test_table_legend_gives_units_intervals_and_fad_sample_size(report):
    html = unescape(report.path.read_text())
    legend = html.split("</table>", 1)[1].split("</p>", 1)[0]
    for text in ("SI-SDR in dB",
                 "FAD_musicnn and FAD: one distance between the reference and reconstruction sets, lower is better",
                 "[low, high]: 95% bootstrap CI over clips",
                 "(n/F) after a FAD value: clips / embedding frames of the evaluated set; FAD is biased by "
                 "sample size (it falls as n and F grow), so compare FADs only at equal n and F."):
        assert text in legend, text


def test_denoiser_rows_are_marked_from_their_checkpoint(report):
    html = report.path.read_text()
    rows, sections = _summary_rows(html), _sections(html)
    assert "denoiser (Δt = 1)" in unescape(rows[DENOISER])
    assert "Denoiser, not a trained generator: checkpoint tiny-denoiser" in unescape(sections[DENOISER])
    for label in ("Identity", "Opus 6 kbps"):
        assert "denoiser" not in rows[label].lower() and "denoiser" not in sections[label].lower()
    hrefs = re.findall(r'<a href="([^"#][^"]*)"', sections[DENOISER])
    targets = {(report.path.parent / unescape(h)).resolve() for h in hrefs}
    assert (REPO / "docs" / "training-investigation.md").resolve() in targets
    assert any(t.name == "MODEL_CARD.md" and t.is_file() for t in targets)


def test_denoiser_mark_reads_the_committed_checkpoints(monkeypatch, tmp_path):
    """The committed `tiny` rows of Table II are marked and the codecs are not; a consistency-trained
    checkpoint, and one whose sidecar records no training options, are not marked; the links resolve from
    results/report/<config>/."""
    from benchmarks.report.build import _denoiser_view
    from benchmarks.report.checkpoints import denoiser_checkpoint
    from benchmarks.store import read_result

    monkeypatch.chdir(REPO)  # the result's checkpoint paths are relative to the checkout
    result = read_result(REPO / "results" / "table2" / "default.json")
    marked = {m["label"]: denoiser_checkpoint(m) for m in result["models"]}
    committed_tiny = {
        m["label"] for m in result["models"] if "checkpoints/tiny-" in m["options"].get("checkpoint", "")
    }
    assert committed_tiny and {label for label, d in marked.items() if d} == committed_tiny
    assert marked["Opus 6 kbps"] is None and marked["Identity"] is None
    entry = next(m for m in result["models"] if marked[m["label"]])
    view = _denoiser_view(entry, REPO / "results" / "report" / "default")
    assert view.investigation == "../../../docs/training-investigation.md"
    assert view.card == f"../../checkpoints/{view.checkpoint}/MODEL_CARD.md"
    for name, train in (("consistency", {"delta_t_start": 0.1, "delta_t_end": 0.001}), ("untold", None)):
        folder = write_denoiser_checkpoint(tmp_path / name, train)
        entry = {"identity": {"provenance": {"path": str(folder / "step-00000001.safetensors")}}}
        assert denoiser_checkpoint(entry) is None, name


def test_fig3_caption_gives_both_clip_counts(mini, report, tmp_path):
    out = Path(mini.output_dir)
    (out / "figures").mkdir(exist_ok=True)
    any_png = next((report.path.parent / "media" / "original").glob("*.png"))
    shutil.copyfile(any_png, out / "figures" / "fig3_mini.png")
    (out / "fig3").mkdir(exist_ok=True)
    (out / "fig3" / "mini.json").write_text(json.dumps({"dataset": {"name": "folder", "clips": 3}}))
    try:
        page = unescape(build_report(mini, tmp_path / "page", progress=False).path.read_text())
    finally:
        shutil.rmtree(out / "figures")
        shutil.rmtree(out / "fig3")
    caption = page.split('alt="Fig. 3"', 1)[1].split("</p>", 1)[0]
    assert "Fig. 3 is measured on 3 clips and Table II on 4" in caption
    assert "FAD falls as the number of clips grows, so compare FADs only at equal n" in caption


def test_spectrograms_have_labelled_axes_up_to_16_khz(report):
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from benchmarks.report.assets import IMAGE_PX, spectrogram_figure

    html = unescape(report.path.read_text())
    assert "time in s" in html and "frequency in kHz up (0–16 kHz)" in html
    fig = spectrogram_figure(np.zeros((1025, 80)), 44100, 5.0, 0.0)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (s)", "frequency (kHz)")
    assert list(ax.get_yticks()) == [0, 4, 8, 12, 16] and ax.get_xlim() == (0.0, 5.0)
    plt.close(fig)
    image = next((report.path.parent / "media" / "original").glob("*.png"))
    assert Image.open(image).size == IMAGE_PX  # drawn at the size the page shows it
    assert f"width: {IMAGE_PX[0]}px; height: {IMAGE_PX[1]}px" in html


def _browser_or_skip() -> None:
    if find_chromium() is None:
        if NEED_BROWSER:
            pytest.fail("M2L2_REQUIRE_BROWSER=1 but no Chromium: run scripts/install_system_deps.sh")
        pytest.skip("no Chromium (make install installs Debian's chromium)")


def test_report_loads_in_headless_chromium(report, tmp_path):
    _browser_or_skip()
    check = check_page(report.path, tmp_path / "shot.png", height=900)
    assert check.failures == []
    parser = _Sources()
    parser.feed(report.path.read_text())
    assert check.audio + check.images == len(parser.src) and check.audio == check.images  # every element
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
