"""Experiments beyond Table II (`m2l2 tables`): Fig. 3 σ_cond sweep, Table I ablation, chunk seams, speed.

Miniature runs use a micro random-weights Music2Latent2 (saved as a step-0 checkpoint, so it counts as
untrained) with `allow_random: true`; every rendered row of it must say "random weights (test only)".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.building import build_variant
from benchmarks.config import ModelSpec, config_from_dict
from benchmarks.experiments import RunOptions, run_experiment
from benchmarks.experiments.seams import boundary_masks, frame_lsd, split_errors
from benchmarks.rendering import fig3 as fig3_rendering


def run(name, cfg, progress=False, on_clip=None):
    """An experiment, then its tables rendered, as `m2l2 tables --only NAME` does."""
    return run_experiment(name, cfg, RunOptions(progress, on_clip))


def mini_config(tmp: Path, clips: Path, micro_checkpoint, **sections):
    summary = micro_checkpoint(tmp / "ckpt-summary")
    ordered = micro_checkpoint(tmp / "ckpt-ordered", "ordered")
    m2l2 = {"sigma_cond": 0.4, "max_batch": 8}
    return config_from_dict({
        "name": "mini",
        "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp / "cache"), "output_dir": str(tmp / "out"), "allow_random": True,
        "models": [
            {"name": "identity", "label": "Identity", "kind": "reference"},
            {"name": "music2latent2", "label": "Micro summary", "options": {"checkpoint": str(summary), **m2l2}},
            {"name": "music2latent2-ordered", "label": "Micro ordered",
             "options": {"checkpoint": str(ordered), **m2l2}},
        ],
        "metrics": ["fad-musicnn"],
        "eval": {"n_boot": 50, "fad_n_boot": 5},
        **sections,
    })


# ----------------------------------------------------------------------------------------------- seams


def test_boundary_masks_split_frames_at_chunk_boundaries():
    boundary, inside = boundary_masks(48, 16, 2)
    assert np.flatnonzero(boundary).tolist() == [14, 15, 16, 17, 30, 31, 32, 33]  # windows spanning 16, 32
    assert not (boundary & inside).any()
    assert np.flatnonzero(~boundary & ~inside).tolist() == [0, 1, 46, 47]  # clip edges: in neither set
    b1, _ = boundary_masks(48, 16, 1)
    assert np.flatnonzero(b1).tolist() == [15, 16, 31, 32]


def test_seam_error_is_larger_where_the_reconstruction_breaks():
    chunk = 16 * 512
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((1, 4 * chunk))).astype(np.float32)
    y = x.copy()
    for k in (1, 2, 3):  # damage 1024 samples around every chunk boundary
        y[:, k * chunk - 512 : k * chunk + 512] *= 0.1
    errors = frame_lsd(x, y)
    assert errors.shape == (64,) and np.isfinite(errors).all()
    split = split_errors(errors, 16, 2)
    assert split["n_boundary"] == 12 and split["n_inside"] == 64 - 12 - 4
    assert split["boundary"] > 5.0 and split["inside"] < 0.2
    peaks = sorted(np.argsort(errors)[-6:].tolist())  # frame grid aligned: the two frames astride each boundary
    assert peaks == [15, 16, 31, 32, 47, 48]
    assert split_errors(frame_lsd(x, x), 16, 2)["boundary"] == pytest.approx(0.0, abs=1e-9)


def test_random_weights_are_refused_unless_allowed(tmp_path, micro_checkpoint):
    spec = ModelSpec("music2latent2", "m", options={"checkpoint": str(micro_checkpoint(tmp_path / "c"))})
    ae, why = build_variant(spec, allow_random=False)
    assert ae is None and "never reported" in why
    ae, why = build_variant(spec, allow_random=True)
    assert ae is not None and why is None


def test_reconstructions_are_shared_by_key_across_experiments(tmp_path, micro_checkpoint, tone_clips):
    # Fig. 3's sigma_cond = 0.4 point has Table II's key: it links Table II's files instead of decoding again,
    # and a different key (another seed) still decodes.
    from benchmarks.evalset import clips_for
    from benchmarks.experiments.base import RunSummary
    from benchmarks.experiments.scoring import recon_file, reconstruct_clips, shared_recon

    cfg = mini_config(tmp_path, tone_clips(tmp_path / "clips", n=2, seconds=0.3), micro_checkpoint)
    clips = clips_for(cfg, None, {})
    ae, _ = build_variant(cfg.models[1], allow_random=True)
    table2, fig3 = RunSummary(), RunSummary()
    keys = reconstruct_clips(cfg, ae, "m", clips, tmp_path / "t2", table2, False, None, "m")
    assert table2.reconstructed == 2
    again = reconstruct_clips(cfg, ae, "m", clips, tmp_path / "f3", fig3, False, None, "m")
    assert again == keys and fig3.reconstructed == 0 and fig3.reused_reconstructions == 2
    for c in clips:
        a, b = recon_file(tmp_path / "t2", c), recon_file(tmp_path / "f3", c)
        assert a.read_bytes() == b.read_bytes() == shared_recon(cfg, keys[c.id]).read_bytes()
    cfg.eval.seed = 1
    other = RunSummary()
    reconstruct_clips(cfg, ae, "m", clips, tmp_path / "f3", other, False, None, "m")
    assert other.reconstructed == 2


# ----------------------------------------------------------------------------------------------- runs


@pytest.mark.slow
def test_miniature_experiments_run_resume_and_render(tmp_path, micro_checkpoint, tone_clips):
    clips = tone_clips(tmp_path / "clips", seconds=0.3)
    cfg = mini_config(
        tmp_path, clips, micro_checkpoint,
        fig3={"sigma_cond": [0.0], "models": ["Micro summary"], "one_step": True, "parallel": [0.0]},
        table1={"summary": "Micro summary", "ordered": "Micro ordered"},
        seams={"models": ["Micro summary"]},
        speed={"seconds": 0.4, "repeats": 1, "models": ["Identity", "Micro summary"]},
    )
    out = Path(cfg.output_dir)
    calls = []

    class Interrupt(Exception):
        pass

    def crash_on_second_point(stage, model, clip):
        calls.append(model)
        if len({c for c in calls}) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run("fig3", cfg, on_clip=crash_on_second_point)
    fig3 = run("fig3", cfg)
    assert fig3.aggregates_computed == 2 and fig3.aggregates_reused == 1  # the first point survived the crash
    # the surviving point is not even decoded again (its keys are known first); the crashed point's first
    # clip survived too
    assert fig3.reused_reconstructions == 1 and fig3.reconstructed == 3
    result = json.loads((out / "fig3" / "mini.json").read_text())
    assert [(p["mode"], p["sigma_cond"]) for p in result["points"]] == [
        ("two-step", 0.0), ("parallel", 0.0), ("one-step", 0.4)
    ]
    assert all(p["random_weights"] for p in result["points"])
    fad = [p["metrics"]["fad-musicnn"] for p in result["points"]]
    assert all(f["status"] == "ok" and np.isfinite(f["value"]) and f["ci"][0] <= f["ci"][1] for f in fad)
    for suffix in (".png", ".pdf"):
        assert (out / "figures" / f"fig3_mini{suffix}").stat().st_size > 1000
    md = (out / "tables" / "fig3_mini.md").read_text()
    assert "random weights (test only)" in md and "one-step" in md and "| parallel | 0.00 |" in md
    assert fig3_rendering.fig3_series(result, "fad-musicnn")["Micro summary"]["parallel"]["sigma"] == [0.0]

    again = run("fig3", cfg)
    assert (again.reconstructed, again.aggregates_computed, again.aggregates_reused) == (0, 0, 3)

    t1 = run("table1", cfg)
    assert t1.aggregates_computed == 2
    table1 = (out / "tables" / "table1_mini.md").read_text()
    assert "w/ summary emb.: Micro summary — random weights (test only)" in table1
    assert "w/o summary emb. (ordered latents): Micro ordered — random weights (test only)" in table1
    assert "0.0262" in table1 and "*Published (MusicCaps, paper)*" in table1  # the paper's rows beside
    assert (out / "tables" / "table1_mini.tex").read_text().count(r"\toprule") == 1

    seams = run("seams", cfg)
    assert seams.rows_computed == 2
    res = json.loads((out / "seams" / "mini.json").read_text())
    modes = res["models"][0]["modes"]
    for mode in ("autoregressive", "independent", "parallel"):
        for part in ("boundary", "inside", "difference"):
            assert np.isfinite(modes[mode][part]["value"])
        assert modes[mode]["n_clips"] == 2
    assert run("seams", cfg).rows_reused == 2
    assert "random weights (test only)" in (out / "tables" / "seams_mini.md").read_text()

    speed = run("speed", cfg)
    rows = json.loads((out / "speed" / "mini.json").read_text())["rows"]
    assert [r["label"] for r in rows] == ["Identity", "Micro summary"] and speed.rows_computed == 2
    assert all(r["encode_rtf"] > 0 and r["decode_rtf"] > 0 for r in rows)
    assert rows[1]["decode_rtf"] > rows[0]["decode_rtf"]  # a network is slower than a copy
    assert run("speed", cfg).rows_reused == 2
    speed_md = (out / "tables" / "speed_mini.md").read_text()
    assert "Micro summary — random weights (test only)" in speed_md and "| Identity | reference |" in speed_md


def test_experiments_skip_with_reasons_when_checkpoints_are_absent(tmp_path, capsys, tone_clips):
    from m2l2.cli import main

    cfg = {
        "name": "absent", "dataset": {"name": "folder", "root": str(tone_clips(tmp_path / "clips", 1, 0.3))},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"), "metrics": ["fad-musicnn"],
        "models": [{"name": "music2latent2", "label": "M2L2", "when_exists": str(tmp_path / "none"),
                    "options": {"checkpoint": str(tmp_path / "none")}},
                   {"name": "music2latent2-ordered", "label": "M2L2o", "when_exists": str(tmp_path / "none"),
                    "options": {"checkpoint": str(tmp_path / "none")}}],
        "table1": {"summary": "M2L2", "ordered": "M2L2o"},
    }
    path = tmp_path / "absent.yaml"
    path.write_text(json.dumps(cfg))
    assert main(["tables", "--config", str(path), "--only", "fig3,table1,seams", "--no-progress"]) == 0
    text = capsys.readouterr().out
    summary = text[text.index("m2l2 tables: summary"):]
    for name in ("fig3", "table1", "seams"):
        line = next(line for line in summary.splitlines() if line.strip().startswith(name))
        assert "does not exist" in line, line
    assert not (tmp_path / "out" / "fig3").exists()


def test_render_grids_from_hand_made_results():
    def point(mode, sigma, value):
        return {"model": "M", "label": f"M {mode} {sigma}", "mode": mode, "sigma_cond": sigma,
                "random_weights": False, "compression_ratio": 64.0, "stereo": False,
                "metrics": {"fad-musicnn": {"status": "ok", "value": value, "ci": [value - 0.1, value + 0.1]},
                            "fad-vggish": {"status": "not computed", "reason": "weights missing: vggish.pth"}}}

    result = {"config_name": "hand", "config": {"eval": {"ci_level": 0.95}}, "metrics": ["fad-musicnn", "fad-vggish"],
              "dataset": {"name": "suite-music", "split": "eval", "clips": 3}, "embedders": {},
              "provenance": {"weights": {"M": {"weights": "m2l2 step-00010000 (step 10000)", "sha256": "ab" * 32}}},
              "points": [point("two-step", 0.0, 2.0), point("two-step", 0.4, 1.0), point("one-step", 0.4, 1.5)]}
    md = fig3_rendering.table_file(result).markdown()
    assert "| two-step | 0.40 | **1.000** [0.900, 1.100] | n/c^1 |" in md
    assert "n/c^1: not computed — fad-vggish: weights missing: vggish.pth" in md
    assert "random weights" not in md
    csv_lines = fig3_rendering.table_file(result).csv().splitlines()
    assert csv_lines[0].startswith("model,decoding,sigma_cond,random_weights,fad-musicnn") and len(csv_lines) == 4


def _tables_cli(config: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "m2l2.cli", "tables", "--config", str(config), "--no-progress",
           "--only", "table2,table1,fig3,seams"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_make_tables_killed_half_way_resumes_to_the_same_tables(tmp_path, micro_checkpoint, tone_clips):
    """The whole `m2l2 tables` pipeline in a subprocess, SIGKILLed mid-Table II, then rerun: every rendered
    table equals that of an uninterrupted run, and a third run recomputes nothing."""
    import os
    import time

    import yaml

    pytest.importorskip("av", reason="the Opus row needs PyAV")
    clips = tone_clips(tmp_path / "clips", n=3, seconds=0.5)
    base = mini_config(tmp_path, clips, micro_checkpoint).as_dict()
    base["models"].insert(1, {"name": "opus-11kbps", "label": "Opus 11 kbps", "kind": "codec"})
    base["metrics"] = ["sisdr", "fad-musicnn"]
    base["eval"]["batch"] = 1
    base.update(fig3={"sigma_cond": [0.0, 0.5], "models": ["Micro summary"], "one_step": True},
                table1={"summary": "Micro summary", "ordered": "Micro ordered"}, seams={"models": ["Micro summary"]})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    outputs = {}
    for tag in ("straight", "killed"):
        data = {**base, "cache_dir": str(tmp_path / f"cache-{tag}"), "output_dir": str(tmp_path / f"out-{tag}")}
        config = tmp_path / f"{tag}.yaml"
        config.write_text(yaml.safe_dump(data))
        rows = tmp_path / f"out-{tag}" / "table2" / "mini" / "per_clip.jsonl"
        if tag == "killed":
            proc = _tables_cli(config, env)
            deadline = time.time() + 120
            while proc.poll() is None and time.time() < deadline:
                if rows.is_file() and len(rows.read_text().splitlines()) >= 4:  # Identity done, Opus started
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed half way"
            proc.kill()
            proc.wait()
            assert not (tmp_path / f"out-{tag}" / "tables" / "table2_mini.md").exists()
        proc = _tables_cli(config, env)
        log = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, log
        out = tmp_path / f"out-{tag}" / "tables"
        outputs[tag] = {p.name: p.read_text() for p in sorted(out.iterdir()) if p.suffix in (".md", ".csv", ".tex")}
        again = _tables_cli(config, env)
        log = again.communicate(timeout=300)[0]
        assert again.returncode == 0 and log.count("up to date (everything reused)") == 4, log
    assert len(outputs["straight"]) == 12  # table2, table1, fig3, seams x md/tex/csv
    assert outputs["killed"] == outputs["straight"]
