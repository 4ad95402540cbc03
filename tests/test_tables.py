"""`m2l2 tables` (Table II): resumable pipeline end to end on a miniature configuration, and table rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers_m2l2 import ToyEmbedder

from benchmarks.config import config_from_dict, load_config
from benchmarks.experiments import RunOptions, run_experiment
from benchmarks.experiments.table2 import result_file as result_path
from benchmarks.rendering import table2
from benchmarks.rendering.common import load_paper_tables
from benchmarks.store import read_rows
from m2l2.audio import save_audio
from m2l2.errors import M2L2Error

pytest.importorskip("av", reason="the Opus row needs PyAV (pip install av)")


def run(cfg, shard=(0, 1), progress=True, on_clip=None):
    """Table II, then its tables rendered, as `m2l2 tables --only table2` does."""
    return run_experiment("table2", cfg, RunOptions(progress, on_clip, shard))


def _config(tmp: Path, clips: Path, tag: str):
    return config_from_dict({
        "name": "mini",
        "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp / f"cache-{tag}"),
        "output_dir": str(tmp / f"out-{tag}"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference",
                    "options": {"channels": 2, "sample_rate": 22050}},
                   {"name": "opus-11kbps", "label": "Opus 11 kbps", "kind": "codec"}],
        "metrics": ["sisdr", "fad-musicnn"],
        "eval": {"n_boot": 200, "fad_n_boot": 10, "batch": 1},
    })


def _tables(cfg) -> dict[str, str]:
    folder = Path(cfg.output_dir) / "tables"
    return {p.name: p.read_text() for p in sorted(folder.glob("table2_*"))}


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_tables(tmp_path, tone_clips):
    clips = tone_clips(tmp_path / "clips", 4, 3.5, 22050, stereo=True)
    straight = _config(tmp_path, clips, "a")
    s = run(straight, progress=False)
    assert s.reconstructed == 8 and s.rows_computed == 8 and s.aggregates_computed == 2

    cfg = _config(tmp_path, clips, "b")
    done = []

    def crash_after_three(stage: str, model: str, clip: str) -> None:
        if stage == "score":
            done.append((model, clip))
            if len(done) == 3:
                raise Interrupt

    with pytest.raises(Interrupt):
        run(cfg, progress=False, on_clip=crash_after_three)
    rows_dir = result_path(cfg).with_suffix("")
    assert len(read_rows(rows_dir)) == 3
    assert not result_path(cfg).exists()
    with open(rows_dir / "per_clip.jsonl", "a") as f:  # a half-written line, as a killed process may leave
        f.write('{"model": "Opus 11 kbps", "clip": "cl')
    resumed = run(cfg, progress=False)
    assert resumed.rows_reused == 3 and resumed.rows_computed == 5
    assert resumed.reused_reconstructions == 4  # Identity's 4 clips were done before the crash
    assert _tables(cfg) == _tables(straight)
    assert len(_tables(cfg)) == 3

    again = run(cfg, progress=False)  # nothing changed: nothing recomputed
    assert (again.reconstructed, again.rows_computed, again.aggregates_computed) == (0, 0, 0)
    assert again.aggregates_reused == 2 and again.rows_reused == 8
    assert _tables(cfg) == _tables(straight)

    result = json.loads(result_path(cfg).read_text())
    assert result["provenance"]["git"].keys() >= {"commit", "dirty"}
    assert "numpy" in result["provenance"]["versions"]
    identity = next(m for m in result["models"] if m["label"] == "Identity")
    assert identity["metrics"]["sisdr"]["value"] > 60  # 16-bit FLAC round trip of a 16-bit source
    opus = next(m for m in result["models"] if m["label"] == "Opus 11 kbps")
    assert opus["compression_ratio"] == pytest.approx(64.0)
    assert opus["metrics"]["sisdr"]["value"] < identity["metrics"]["sisdr"]["value"]

    save_audio(clips / "clip0.flac", np.zeros((2, 22050), np.float32), 22050)  # a changed input is redone
    changed = run(cfg, progress=False)
    assert changed.reconstructed == 2 and changed.rows_computed == 2 and changed.aggregates_computed == 2


def test_sharded_rows_merge(tmp_path, tone_clips):
    clips = tone_clips(tmp_path / "clips", 3, 1.0, 22050, stereo=True)
    cfg = _config(tmp_path, clips, "s")
    cfg.models = cfg.models[:1]
    cfg.metrics = ["sisdr"]
    first = run(cfg, shard=(0, 2), progress=False)
    second = run(cfg, shard=(1, 2), progress=False)
    assert first.rows_computed == 2 and second.rows_computed == 1
    assert not result_path(cfg).exists()
    rows_dir = result_path(cfg).with_suffix("")
    assert len(list(rows_dir.glob("per_clip.shard-*"))) == 2
    merged = run(cfg, progress=False)
    assert merged.rows_computed == 0 and merged.rows_reused == 3 and merged.aggregates_computed == 1
    assert json.loads(result_path(cfg).read_text())["models"][0]["metrics"]["sisdr"]["n"] == 3
    assert [p.name for p in rows_dir.iterdir()] == ["per_clip.jsonl"] and len(read_rows(rows_dir)) == 3

    save_audio(clips / "clip0.flac", np.zeros((2, 22050), np.float32), 22050)  # clip0's row goes stale
    run(cfg, progress=False)
    rows = read_rows(rows_dir)
    assert len(rows) == 3 and sum(r["clip"] == "clip0" for r in rows) == 1  # the stale row was dropped


def _torchrun_rank(rank: int, world: int, port: int, config: str) -> None:
    import os

    from m2l2.cli import main

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    assert main(["tables", "--config", config, "--only", "table2", "--no-progress"]) == 0


def test_torchrun_ranks_split_table2_and_rank0_merges(tmp_path, tone_clips):
    import socket

    import torch.multiprocessing as mp
    import yaml

    clips = tone_clips(tmp_path / "clips", 3, 1.0, 22050, stereo=True)
    data = {"name": "mini", "dataset": {"name": "folder", "root": str(clips), "split": None},
            "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
            "models": [{"name": "identity", "label": "Identity", "kind": "reference",
                        "options": {"channels": 2, "sample_rate": 22050}}],
            "metrics": ["sisdr"], "eval": {"n_boot": 50, "batch": 1}}
    config = tmp_path / "mini.yaml"
    config.write_text(yaml.safe_dump(data))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_torchrun_rank, args=(2, port, str(config)), nprocs=2, join=True)
    rows = Path(data["output_dir"]) / "table2" / "mini"
    assert [p.name for p in rows.iterdir()] == ["per_clip.jsonl"]  # shards folded into one file
    assert len(read_rows(rows)) == 3
    result = json.loads(result_path(load_config(config)).read_text())
    assert result["models"][0]["metrics"]["sisdr"]["n"] == 3  # rank 0 merged both shards


def _hand_made_result() -> dict:
    def ok(v, ci=None):
        return {"status": "ok", "value": v, "ci": ci}

    def nc(reason):
        return {"status": "not computed", "reason": reason, "value": None, "ci": None}

    def model(label, kind, ratio, metrics, pretrained=True):
        prov = {"weights": f"{label}-weights", "sha256": "ab" * 32, "note": ""}
        return {"label": label, "name": label.lower(), "kind": kind, "compression_ratio": ratio, "stereo": False,
                "pretrained": pretrained, "identity": {"provenance": prov}, "metrics": metrics}

    missing = nc("weights missing: vggish-10086976.pth")
    return {
        "config_name": "hand", "metrics": ["sisdr", "fad-musicnn", "fad-vggish"],
        "config": {"eval": {"ci_level": 0.95}},
        "dataset": {"name": "suite-music", "split": "eval", "clips": 3},
        "embedders": {"fad-musicnn": "MSD_musicnn@sha256:123"},
        "skipped_models": {"Music2Latent2": "checkpoint results/checkpoints/music2latent2 does not exist"},
        "models": [
            model("Identity", "reference", 1.0, {"sisdr": ok(90.0), "fad-musicnn": ok(0.0), "fad-vggish": missing}),
            model("Opus", "codec", 64.0, {"sisdr": ok(5.5, [5.0, 6.0]), "fad-musicnn": ok(0.9), "fad-vggish": missing}),
            model("AE-good", "autoencoder", 64.0, {"sisdr": ok(1.25), "fad-musicnn": ok(0.4), "fad-vggish": missing}),
            model("AE-bad", "autoencoder", 64.0, {"sisdr": ok(-3.0), "fad-musicnn": ok(2.0), "fad-vggish": missing}),
            model("Random", "autoencoder", 64.0, {"sisdr": ok(50.0), "fad-musicnn": ok(0.01), "fad-vggish": missing},
                  pretrained=False),
        ],
    }


def test_render_marks_best_values_paper_rows_and_missing_metrics():
    result, paper = _hand_made_result(), load_paper_tables()
    md = table2.table_file(result, paper).markdown()
    lines = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "Random" not in md  # random weights are never reported
    assert "**5.50** [5.00, 6.00]" in lines["Opus"]  # best SI-SDR (identity excluded) is bold
    assert "<u>1.25</u>" in lines["AE-good"]  # best autoencoder underlined, not bold
    assert "<u>**0.400**</u>" in lines["AE-good"]  # best FAD overall and best autoencoder
    assert "**" not in lines["Identity"] and "<u>" not in lines["AE-bad"]
    assert "n/c^1" in lines["Opus"] and "n/c^1: not computed — fad-vggish: weights missing: vggish-10086976.pth" in md
    assert "*Published (MusicCaps, paper)*" in md and "*Measured (this run)*" in md
    assert "<u>**0.570**</u>" in lines["Music2Latent2"]  # the paper's best FAD, among paper rows only
    assert "**9.48**" in lines["DAC"] and "<u>6.04</u>" in lines["StableAudio"]
    assert lines["DAC"].count("–") >= 1  # FAD_musicnn is not reported in the paper
    assert "Not run: Music2Latent2" in md and "MSD_musicnn@sha256:123" in md and "AE-good-weights" in md

    tex = table2.table_file(result, paper).latex()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{9.48}" in tex
    assert r"\underline{1.25}" in tex and r"\underline{\textbf{0.400}}" in tex and r"n/c$^{1}$" in tex
    assert "Random" not in tex

    rows = table2.table_file(result, paper).csv().splitlines()
    assert rows[0].startswith("block,model,kind,compression_ratio,stereo,sisdr,sisdr_ci_low")
    opus = next(r for r in rows if r.startswith("measured,Opus,"))
    assert ",5.5,5.0,6.0,ok," in opus and "not computed: fad-vggish: weights missing" in opus
    assert any(r.startswith("paper,Music2Latent2,") and "-0.58" in r for r in rows)


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    cfg = load_config("paper")
    cfg.dataset.root = str(tmp_path / "no-musiccaps")
    cfg.output_dir = str(tmp_path / "out")
    with pytest.raises(M2L2Error, match="MusicCaps"):
        run(cfg, progress=False)
    with pytest.raises(M2L2Error, match="configuration not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(M2L2Error, match="unknown keys"):
        config_from_dict({"name": "x", "models": [{"name": "identity", "labl": "typo"}], "metrics": ["sisdr"]})


def test_default_config_lists_the_offline_suite():
    cfg = load_config("default")
    assert cfg.dataset.name == "suite-music" and cfg.metrics[:2] == ["sisdr", "visqol"]
    assert {"identity", "opus-11kbps", "opus-6kbps", "mp3-11kbps", "mp3-8kbps"} <= {m.name for m in cfg.models}
    assert all(m.when_exists for m in cfg.models if m.name.startswith("music2latent2"))


def test_result_file_kept_when_only_date_and_commit_differ(tmp_path):
    from benchmarks.store import write_if_changed

    path = tmp_path / "r.json"
    result = {"models": [1], "provenance": {"created": "a", "git": {"commit": "1" * 40}, "versions": {"x": "1"}}}
    assert write_if_changed(path, result)
    rerun = {**result, "provenance": {"created": "b", "git": {"commit": "2" * 40}, "versions": {"x": "1"}}}
    assert not write_if_changed(path, rerun)  # nothing recomputed: the provenance of the computing run stays
    assert json.loads(path.read_text())["provenance"]["git"]["commit"] == "1" * 40
    changed = {**rerun, "models": [2]}
    assert write_if_changed(path, changed)
    assert json.loads(path.read_text())["provenance"]["git"]["commit"] == "2" * 40


def test_cli_rerun_of_table2_with_nothing_changed_succeeds(tmp_path, tone_clips, capsys):
    import yaml

    from m2l2.cli import main

    clips = tone_clips(tmp_path / "clips", 2, 1.0, 22050, stereo=True)
    config = tmp_path / "mini.yaml"
    config.write_text(yaml.safe_dump({
        "name": "mini", "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference",
                    "options": {"channels": 2, "sample_rate": 22050}}],
        "metrics": ["sisdr"], "eval": {"n_boot": 20, "batch": 1}}))
    args = ["tables", "--config", str(config), "--only", "table2", "--no-progress"]
    assert main(args) == 0
    assert main(args) == 0  # everything reused: still a success
    out = capsys.readouterr().out
    assert re.search(r"table2 +\d+\.\d s  up to date \(everything reused\)", out), out  # with its seconds


def test_table2_with_kad_and_spectral_distances(tmp_path, tone_clips, monkeypatch):
    from benchmarks import embedders

    monkeypatch.setitem(embedders.EMBEDDERS, "fad-musicnn", ToyEmbedder)
    monkeypatch.setenv("M2L2_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    clips = tone_clips(tmp_path / "clips", 3, 1.0, 22050, stereo=True)
    new = ["mel-distance", "stft-distance", "kad-musicnn", "kad-vggish"]
    cfg = config_from_dict({
        "name": "mini", "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
        "models": [{"name": "identity", "label": "Identity", "kind": "reference",
                    "options": {"channels": 2, "sample_rate": 22050}},
                   {"name": "opus-11kbps", "label": "Opus 11 kbps", "kind": "codec"},
                   {"name": "opus-6kbps", "label": "Opus 6 kbps", "kind": "codec"}],
        "metrics": ["sisdr", "fad-musicnn", *new], "eval": {"n_boot": 50, "fad_n_boot": 5, "batch": 2}})
    run(cfg, progress=False)
    result = json.loads(result_path(cfg).read_text())
    models = {m["label"]: m["metrics"] for m in result["models"]}
    for label, metrics in models.items():
        for m in ("mel-distance", "stft-distance", "kad-musicnn"):
            assert metrics[m]["status"] == "ok" and np.isfinite(metrics[m]["value"]), (label, m)
            assert metrics[m]["ci"] is not None
        assert metrics["kad-vggish"]["reason"] == "weights missing: vggish-10086976.pth"
    assert models["Identity"]["mel-distance"]["value"] < models["Opus 11 kbps"]["mel-distance"]["value"]
    assert models["Opus 11 kbps"]["mel-distance"]["value"] < models["Opus 6 kbps"]["mel-distance"]["value"]
    assert abs(models["Identity"]["kad-musicnn"]["value"]) < models["Opus 6 kbps"]["kad-musicnn"]["value"]
    assert models["Opus 6 kbps"]["kad-musicnn"]["details"]["bandwidth"] > 0

    md = _tables(cfg)["table2_mini.md"]
    for head in ("Mel dist. ↓", "STFT dist. ↓", "KAD_musicnn ↓", "KAD_vggish ↓"):
        assert head in md
    assert "median pairwise distance of the reference set" in md and "5, 10, 20, 40, 80, 160, 320" in md
    lines = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    col = lines["Model"].split(" | ").index("Mel dist. ↓")
    mel = {label: lines[label].split(" | ")[col] for label in ("Opus 11 kbps", "Opus 6 kbps")}
    assert mel["Opus 11 kbps"].startswith("**") and "**" not in mel["Opus 6 kbps"]  # lower is better
    assert "kad-vggish: weights missing: vggish-10086976.pth" in md


def test_committed_table2_result_renders_and_lacks_new_metrics_as_not_computed():
    committed = Path(__file__).resolve().parent.parent / "results" / "table2" / "default.json"
    if not committed.is_file():
        pytest.skip("no committed Table II result")
    result = json.loads(committed.read_text())
    plain = table2.table_file(result, load_paper_tables()).markdown()
    assert "KAD" not in plain and "Mel dist." not in plain  # old files render as before
    result["metrics"] = [*result["metrics"], "kad-clap", "mel-distance"]  # a config that lists new columns
    md = table2.table_file(result, load_paper_tables()).markdown()
    assert "KAD_clap ↓" in md and "Mel dist. ↓" in md
    assert "kad-clap: not in this result file" in md and "mel-distance: not in this result file" in md


def test_run_summary_prints_where_the_time_went():
    from benchmarks.experiments.base import RunSummary

    s = RunSummary()
    for i in range(10):
        s.add_time(f"stage {i}", float(i))
    s.add_time("stage 9", 1.0)  # accumulates
    lines = [line for line in s.text().splitlines() if line.strip().startswith("time")]
    assert lines[0].split() == ["time", "10.0", "s", "stage", "9"]  # slowest first
    assert len(lines) == 9 and lines[-1].split()[-3:] == ["(2", "more", "stages)"]
    assert float(lines[-1].split()[1]) == 1.0  # stages 0 and 1


def test_run_summary_totals_stages_by_kind():
    from benchmarks.experiments.base import RunSummary

    s = RunSummary()
    s.add_time("reconstruct: A", 2.0)
    s.add_time("reconstruct: B", 3.0)
    s.add_time("visqol: A", 1.5)
    assert "time by kind: reconstruct 5.0 s, visqol 1.5 s" in s.text()
