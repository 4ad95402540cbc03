"""Fault injection: each test builds one fault (a damaged cache file, a broken checkpoint, a bad
configuration, an unwritable output...), runs the real command in-process and checks what the user sees:
the exit status (0 where the run recovers, 2 where the input is refused), one stderr line
`m2l2: error: <what> (<where>): <what to do>` and no traceback, and, where the run recovers, numbers
identical to those of a clean run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from helpers_m2l2 import MICRO_YAML, ToyEmbedder

from m2l2.cli import main

ERROR_LINE = re.compile(r"^m2l2: error: .+ \(.+\): .+$")
TABLES = ["tables", "--only", "table2", "--no-progress", "--config"]


def error_lines(capsys, expected: int = 1) -> list[str]:
    """The `m2l2: error:` lines of stderr: `expected` of them, each in the convention, and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("m2l2: error:")]
    assert len(lines) == expected, err
    assert all(ERROR_LINE.match(line) for line in lines), lines
    return lines


# --- a miniature Table II ---------------------------------------------------------------------------


@pytest.fixture
def tables(tmp_path, tone_clips, monkeypatch):
    """A `m2l2 tables` configuration: two clips, a model that changes them (identity through 16 kHz),
    SI-SDR and the toy embedder's FAD and KAD. Returns its YAML path."""
    from benchmarks import embedders

    monkeypatch.setitem(embedders.EMBEDDERS, "fad-musicnn", ToyEmbedder)
    clips = tone_clips(tmp_path / "clips", n=2, seconds=1.0)
    config = tmp_path / "faults.yaml"
    config.write_text(yaml.safe_dump({
        "name": "faults", "dataset": {"name": "folder", "root": str(clips), "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
        "models": [{"name": "identity", "label": "Down-up", "kind": "codec", "options": {"sample_rate": 16000}}],
        "metrics": ["sisdr", "fad-musicnn", "kad-musicnn"], "eval": {"n_boot": 20, "fad_n_boot": 5, "batch": 2},
    }))
    return config


def numbers(config: Path) -> dict:
    """Every number of the Table II result: per metric value and CI, per-clip FAD, per-clip rows."""
    out = config.parent / "out" / "table2"
    model = json.loads((out / "faults.json").read_text())["models"][0]
    rows = sorted((r["clip"], r["sisdr"]) for r in map(json.loads, (out / "faults" / "per_clip.jsonl").open()))
    metrics = {m: (s["status"], s["value"], s["ci"]) for m, s in model["metrics"].items()}
    return {"metrics": metrics, "per_clip_fad": model["per_clip_fad"], "rows": rows}


def rerun(config: Path, capsys) -> str:
    """Delete the results (keep the cache) and run again; returns stdout."""
    shutil.rmtree(config.parent / "out")
    capsys.readouterr()
    assert main([*TABLES, str(config)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out


def named_once(text: str, path: Path) -> None:
    lines = [line for line in text.splitlines() if str(path) in line]
    assert len(lines) == 1 and "damaged" in lines[0], text


def test_truncated_cached_reconstruction_is_rebuilt(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    clean = numbers(tables)
    victim = sorted((tables.parent / "cache" / "recon" / "by-key").rglob("*.flac"))[0]
    os.truncate(victim, victim.stat().st_size // 2)  # the run folder's copy is the same (hard-linked) file
    out = rerun(tables, capsys)
    assert numbers(tables) == clean
    assert len([line for line in out.splitlines() if "damaged" in line]) == 1, out
    named_once(out, victim)


def test_hard_link_does_not_resurrect_a_deleted_damaged_reconstruction(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    clean = numbers(tables)
    run_copy = sorted((tables.parent / "cache" / "recon" / "faults" / "Down-up").glob("*.flac"))[0]
    os.truncate(run_copy, 1000)
    run_copy.unlink()  # the user deletes the damaged file where they found it; its by-key link remains
    out = rerun(tables, capsys)
    assert numbers(tables) == clean
    assert len([line for line in out.splitlines() if "damaged" in line]) == 1, out


def test_overwritten_embedding_bytes_are_rebuilt(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    clean = numbers(tables)
    assert all(np.isfinite(v) for _, v, _ in clean["metrics"].values())
    victim = sorted((tables.parent / "cache" / "embeddings").rglob("*.npy"))[0]
    with open(victim, "r+b") as f:  # header intact, data overwritten: huge but finite float32 values
        f.seek(128)
        f.write(b"\x7f\x7f\x7f\x7f" * 8)
    out = rerun(tables, capsys)
    assert numbers(tables) == clean
    named_once(out, victim)


def test_zero_byte_cache_file_is_a_miss(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    clean = numbers(tables)
    victim = sorted((tables.parent / "cache" / "embeddings").rglob("*.npy"))[-1]
    victim.write_bytes(b"")
    out = rerun(tables, capsys)
    assert numbers(tables) == clean
    named_once(out, victim)


def test_malformed_rows_and_sidecars_are_rebuilt(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    clean = numbers(tables)
    rows = tables.parent / "out" / "table2" / "faults" / "per_clip.jsonl"
    keep = tables.parent / "rows.jsonl"
    keep.write_text(rows.read_text().replace("\n", "\n[1, 2]\n{not json\n", 1))  # two bad lines inside
    sidecar = sorted((tables.parent / "cache" / "recon" / "faults" / "Down-up").glob("*.json"))[0]
    sidecar.write_text("[]")
    shutil.rmtree(tables.parent / "out")
    rows.parent.mkdir(parents=True)
    shutil.copy(keep, rows)
    capsys.readouterr()
    assert main([*TABLES, str(tables)]) == 0
    out = capsys.readouterr().out
    assert numbers(tables) == clean
    assert "per_clip.jsonl: 2 malformed lines skipped" in out


def test_reconstructions_without_a_checksum_are_checked_and_adopted(tables, capsys):
    """Reconstructions cached before checksums were recorded are decoded once, checked and kept."""
    assert main([*TABLES, str(tables)]) == 0
    clean = numbers(tables)
    cache = tables.parent / "cache" / "recon"
    for sidecar in (cache / "faults" / "Down-up").glob("*.json"):
        sidecar.write_text(json.dumps({k: v for k, v in json.loads(sidecar.read_text()).items()
                                       if k not in ("sha256", "bytes")}))
    for record in (cache / "by-key").rglob("*.check.json"):
        record.unlink()
    out = rerun(tables, capsys)
    assert numbers(tables) == clean
    assert "reconstructions: 0 computed, 2 reused" in out and "damaged" not in out


def test_a_second_run_on_the_same_cache_is_refused(tables, capsys):
    from benchmarks import store

    with store.cache_lock(tables.parent / "cache"):
        assert main([*TABLES, str(tables)]) == 2
        assert f"pid {os.getpid()}" in error_lines(capsys)[0]
    assert main([*TABLES, str(tables)]) == 0  # released with its holder


def test_feature_cache_rebuilds_a_damaged_entry(tmp_path, caplog):
    from benchmarks.experiments.table3.features import FeatureCache

    path = tmp_path / "ab" / "f.npy"
    FeatureCache.put(path, np.arange(40, dtype=np.float32))
    assert np.array_equal(FeatureCache(tmp_path).get(path), np.arange(40))
    with open(path, "r+b") as f:
        f.seek(140)
        f.write(b"\x00\x00\xc0\x7f")  # a NaN where a number was
    assert FeatureCache(tmp_path).get(path) is None and not path.exists()
    assert str(path) in caplog.text and "damaged" in caplog.text


def test_malformed_result_file_names_it(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    result = tables.parent / "out" / "table2" / "faults.json"
    result.write_text(result.read_text()[:100])
    capsys.readouterr()
    assert main(["results", "export", "--config", str(tables), "--out", str(tables.parent / "r.csv")]) == 2
    line = error_lines(capsys)[0]
    assert str(result) in line and "delete it" in line


def test_fad_and_kad_refuse_non_finite_embeddings(tmp_path, tone_clips, monkeypatch, capsys):
    from benchmarks import embedders

    class NanOn440Hz(ToyEmbedder):
        def embed(self, audio):  # clip1 is the 440 Hz tone
            peak = np.argmax(np.abs(np.fft.rfft(audio))) * self.sample_rate / len(audio)
            out = super().embed(audio)
            return out * np.nan if abs(peak - 440) < 20 else out

    monkeypatch.setitem(embedders.EMBEDDERS, "fad-musicnn", NanOn440Hz)
    ref = tone_clips(tmp_path / "ref", n=3, seconds=1.0)
    metrics = ["metrics", str(ref), str(ref), "--metrics", "sisdr,fad-musicnn,kad-musicnn", "--no-progress",
               "--cache-dir", "none", "--bootstrap", "10", "--fad-bootstrap", "5", "--json"]
    assert main(metrics) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["sisdr"]["status"] == "ok"
    for m in ("fad-musicnn", "kad-musicnn"):
        assert got[m]["status"] == "not computed" and got[m]["value"] is None
        assert got[m]["reason"] == "non-finite embedding values (reference of clip clip1)"


def test_sqrtm_is_never_reached_with_a_nan(tmp_path):
    """scipy's sqrtm iterates for minutes on a NaN matrix: the Fréchet distance refuses it first (run in a
    subprocess so that a regression fails on the timeout instead of hanging the suite)."""
    code = textwrap.dedent("""
        import numpy as np
        from benchmarks.metrics.frechet import fad, trace_sqrt_product
        x = np.random.default_rng(0).standard_normal((400, 64))
        y = x.copy(); y[5, 3] = np.nan
        c = np.cov(x, rowvar=False)
        for call in (lambda: fad(x, y), lambda: trace_sqrt_product(c, c * np.nan)):
            try:
                call()
            except ValueError as e:
                print("refused:", e)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.count("refused:") == 2 and "non-finite" in done.stdout, done.stdout + done.stderr


def test_few_frames_for_the_dimensions_warn(caplog):
    from benchmarks.metrics.evaluation_types import ClipPair, EvalConfig
    from benchmarks.metrics.set_scores import EmbeddedSet, fad

    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((5, 32)) for _ in range(3)]  # 15 frames for 32 dimensions
    pairs = [ClipPair(f"c{i}", Path("r"), Path("e")) for i in range(3)]
    data = EmbeddedSet(pairs, clips, [c + 0.1 for c in clips], "toy", 0, 0)
    _, summary = fad("fad-toy", data, EvalConfig(fad_n_boot=5))
    assert summary.status == "ok"
    assert "fewer than 2 x dimensions" in caplog.text


def test_cache_writes_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    from m2l2 import io

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    io.write_bytes(tmp_path / "sub" / "a.npy", b"data")
    assert any(p.endswith(".part") for p in synced) and str(tmp_path / "sub") in synced, synced


# --- configuration ----------------------------------------------------------------------------------


def test_every_configuration_problem_at_once(tmp_path, tables, capsys):
    data = yaml.safe_load(tables.read_text())
    data["dataset"]["max_clips"] = -3
    data["eval"]["n_boot"] = -5
    data["eval"]["fad_n_boot"] = "many"
    data["models"] += [
        {"name": "opus-11kpbs", "label": "Opus"},
        {"name": "identity", "label": "Down-up"},
        {"name": "music2latent2", "label": "M2L2", "options": {"checkpoint": str(tmp_path / "no"), "sigma_cnd": 1}},
    ]
    data["seams"] = {"models": ["M2L3"]}
    data["outptu_dir"] = "x"
    tables.write_text(yaml.safe_dump(data))
    assert main([*TABLES, str(tables)]) == 2
    lines = "\n".join(error_lines(capsys, expected=9))
    for needle in ("dataset.max_clips", "eval.n_boot", "eval.fad_n_boot", "did you mean 'output_dir'",
                   "did you mean 'opus-11kbps'", "duplicate label 'Down-up'", "did you mean 'sigma_cond'",
                   "models[3].options.checkpoint", "seams.models[0]"):
        assert needle in lines, needle
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # no work started


def test_section_of_another_experiment_is_checked_before_work(tables, capsys):
    data = yaml.safe_load(tables.read_text())
    data["fig3"] = {"sigma_cond": [0.4], "models": ["Down-up"], "one_stpe": True}
    tables.write_text(yaml.safe_dump(data))
    assert main([*TABLES, str(tables)]) == 2  # only table2 was asked for
    assert "one_stpe" in error_lines(capsys)[0]


@pytest.mark.parametrize("text, needle", [
    ("name: x\nmodels: [\n  - a\n", ":3:3): fix the syntax"),
    ("", "the configuration is empty"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_yaml_syntax_and_empty_configuration(tmp_path, capsys, text, needle):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main([*TABLES, str(config)]) == 2
    assert needle in error_lines(capsys)[0]


def test_unknown_train_override_is_refused(tmp_path, capsys):
    assert main(["train", "tiny", "--set", "train.learning_rate=1", f"train.data={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "unknown train option" in err and "Traceback" not in err


# --- checkpoints and latents ------------------------------------------------------------------------


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "a.wav"
    t = np.arange(22_050) / 44_100
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44_100)
    return path


@pytest.fixture
def micro_yaml(tmp_path):
    path = tmp_path / "micro.yaml"
    path.write_text(MICRO_YAML)
    return str(path)


def _damage_sidecar(ckpt: Path, change) -> Path:
    sidecar = next(ckpt.glob("step-*.json"))
    meta = json.loads(sidecar.read_text())
    change(meta)
    sidecar.write_text(json.dumps(meta))
    return sidecar


@pytest.mark.parametrize("fault", ["truncated", "missing-key", "wrong-shapes", "not-json", "bad-option"])
def test_broken_checkpoint_is_one_line(tmp_path, micro_checkpoint, clip, capsys, fault):
    ckpt = micro_checkpoint(tmp_path / "ckpt")
    named = {
        "truncated": lambda: os.truncate(p := next(ckpt.glob("*.safetensors")), p.stat().st_size // 2) or p,
        "missing-key": lambda: _damage_sidecar(ckpt, lambda m: m.pop("tensors")),
        "wrong-shapes": lambda: _damage_sidecar(ckpt, lambda m: m["config"]["model"].update(latent_dim=32)),
        "not-json": lambda: (p := next(ckpt.glob("*.json"))).write_text("{") or p,
        "bad-option": lambda: _damage_sidecar(ckpt, lambda m: m["config"]["model"].update(channels=3)),
    }[fault]()
    assert main(["reconstruct", str(clip), str(tmp_path / "out.wav"), "--checkpoint", str(ckpt)]) == 2
    line = error_lines(capsys)[0]
    assert str(named) in line
    if fault == "wrong-shapes":
        assert "of another shape" in line
    if fault == "bad-option":  # the option, the file and the fix in one place
        assert f"(model.channels, sidecar {named}): use 1 or 2" in line


def test_latents_refuse_another_models_weights(tmp_path, micro_checkpoint, clip, capsys):
    from m2l2.checkpoint import load_checkpoint, save_checkpoint

    a = micro_checkpoint(tmp_path / "a")
    ckpt = load_checkpoint(a)  # b: the same configuration, other weights
    other = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt.model.items()}
    save_checkpoint(tmp_path / "b", 0, other, config=ckpt.config)
    lat = tmp_path / "a.safetensors"
    assert main(["encode", str(clip), str(lat), "--checkpoint", str(a)]) == 0
    assert main(["decode", str(lat), str(tmp_path / "ok.wav"), "--checkpoint", str(a)]) == 0
    capsys.readouterr()
    assert main(["decode", str(lat), str(tmp_path / "x.wav"), "--checkpoint", str(tmp_path / "b")]) == 2
    line = error_lines(capsys)[0]
    assert "another model" in line and str(lat) in line
    assert not (tmp_path / "x.wav").exists()


# --- the model's commands: outputs ------------------------------------------------------------------


def test_reconstruct_refuses_to_overwrite_its_input(tmp_path, clip, micro_yaml, capsys):
    original = clip.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(clip)
    for out in (clip, link, tmp_path / "." / "a.wav"):
        assert main(["reconstruct", str(clip), str(out), "--untrained", micro_yaml]) == 2
        assert "the output is the input" in error_lines(capsys)[0]
    assert clip.read_bytes() == original


def test_bad_output_paths_are_refused_before_any_work(tmp_path, clip, micro_yaml, capsys, monkeypatch):
    import m2l2.commands

    monkeypatch.setattr(m2l2.commands, "_model_from_args", lambda args: pytest.fail("model built"))
    cases = [
        (["reconstruct", str(clip), str(tmp_path / "out.xyz")], "unknown output extension '.xyz'"),
        (["encode", str(clip), str(tmp_path / "out.wav")], "unknown output extension '.wav'"),
        (["encode", str(clip), str(tmp_path / "new" / "deep" / "a.safetensors")], "output folder does not exist"),
    ]
    for args, needle in cases:
        assert main([*args, "--untrained", micro_yaml]) == 2
        assert needle in error_lines(capsys)[0]
    assert not (tmp_path / "new").exists()


# --- training resume --------------------------------------------------------------------------------


def test_resume_tolerates_a_torn_log_line_and_refuses_a_changed_configuration(tmp_path, capsys):
    from helpers_m2l2 import MICRO, write_tone

    write_tone(tmp_path / "data" / "a.wav", seconds=1.0)
    run = tmp_path / "run"
    common = ["train", "tiny", "--run-dir", str(run), "--set", *MICRO, "model.depth=1",
              f"train.data={tmp_path / 'data'}", "train.batch_size=1", "train.total_steps=3",
              "train.num_workers=0", "train.checkpoint_minutes=0", "train.log_every=1", "train.progress=false"]
    assert main([*common, "--max-steps", "2"]) == 0
    log = run / "log.jsonl"
    with open(log, "a") as f:
        f.write('{"step": 3, "loss": 0.')  # a run killed while writing its log
    capsys.readouterr()
    assert main([*common, "--resume"]) == 0
    assert "torn" in capsys.readouterr().out
    assert [json.loads(r)["step"] for r in log.read_text().splitlines()] == [1, 2, 3]
    assert main([*common, "train.lr=0.5", "--resume"]) == 2
    assert "train.lr" in error_lines(capsys)[0]
    assert main([*common, "train.lr=0.5", "--resume", "--allow-config-change"]) == 0


def test_settings_a_checkpoint_predates_count_at_their_defaults():
    from m2l2.training.config import TrainConfig
    from m2l2.training.trainer import train_changes

    current = TrainConfig.from_dict({"lr": 3e-4, "progress": False}).to_dict()
    older = {k: v for k, v in current.items() if k not in ("ect_q", "delta_schedule")}  # written before those
    assert train_changes({**older, "anchor_fraction": 0.0}, current) == []  # a retired option is not compared
    assert train_changes({**older, "lr": 1e-4, "progress": True}, current) == ["train.lr: 0.0001 → 0.0003"]


# --- m2l2 metrics -----------------------------------------------------------------------------------


@pytest.fixture
def pair_dirs(tmp_path):
    rng = np.random.default_rng(0)
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir()
    est.mkdir()
    for i in range(3):
        x = (0.1 * rng.standard_normal((11_025, 2))).astype(np.float32)
        sf.write(str(ref / f"c{i}.wav"), x, 22_050)
        y = np.concatenate([x, x[:, :1]], axis=1) if i == 1 else 0.9 * x + 0.01 * rng.standard_normal(x.shape)
        sf.write(str(est / f"c{i}.wav"), y.astype(np.float32), 22_050)
    return ref, est


def test_metrics_skip_a_channel_mismatch_and_go_on(pair_dirs, capsys):
    ref, est = pair_dirs
    assert main(["metrics", str(ref), str(est), "--metrics", "sisdr", "--no-progress", "--bootstrap", "10"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and f"{est / 'c1.wav'}: 3 channels, its reference 2" in err
    assert "skipped 1 of 3 clips" in out and re.search(r"sisdr +\d+\.\d+ .* 2 +1 skipped", out), out


def test_symlinked_sub_folders_are_scanned(tmp_path, tone_clips, capsys):
    real = tone_clips(tmp_path / "elsewhere", n=2, seconds=0.5)
    for side in ("ref", "est"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "linked").symlink_to(real)
    args = ["metrics", str(tmp_path / "ref"), str(tmp_path / "est"), "--metrics", "sisdr", "--json", "--no-progress"]
    assert main([*args, "--bootstrap", "10"]) == 0
    assert json.loads(capsys.readouterr().out)["sisdr"]["n"] == 2


def test_metrics_keep_their_numbers_when_saving_fails(tmp_path, pair_dirs, capsys, monkeypatch):
    import errno

    from benchmarks.metrics.evaluation_types import Evaluation

    ref, est = pair_dirs
    write = Evaluation.write

    def disk_full_once(self, path):
        if Path(path).parent == tmp_path / "out":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write(self, path)

    monkeypatch.setattr(Evaluation, "write", disk_full_once)
    args = ["metrics", str(ref), str(est), "--metrics", "sisdr", "--no-progress", "--bootstrap", "10"]
    assert main([*args, "--out", str(tmp_path / "out" / "r.json")]) == 2
    out, err = capsys.readouterr()
    assert re.search(r"sisdr +\d+\.\d+", out), out  # the numbers were printed
    line = [x for x in err.splitlines() if x.startswith("m2l2: error:")][0]
    assert ERROR_LINE.match(line) and "No space left" in line
    kept = Path(re.search(r"saved in (\S+\.json)", line).group(1))
    assert json.loads(kept.read_text())["aggregates"]["sisdr"]["status"] == "ok"
    kept.unlink()
    kept.with_suffix(".per_clip.csv").unlink()
    blocked = tmp_path / "file"
    blocked.write_text("")
    for bad, needle in ((blocked / "r.json", "cannot write into the --out folder"),
                        (tmp_path / "r.txt", "unknown --out extension")):
        assert main([*args, "--out", str(bad)]) == 2
        assert needle in error_lines(capsys)[0]


# --- the suite's manifest ---------------------------------------------------------------------------


def test_malformed_manifest_names_it(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"parts": {}, "files": ')
    assert main(["data", "verify", "--root", str(tmp_path)]) == 2
    line = error_lines(capsys)[0]
    assert str(tmp_path / "manifest.json") in line and "delete it" in line


@pytest.mark.parametrize("code, needle", [(13, "Permission denied"), (28, "No space left on device")])
def test_unwritable_output_is_one_line(tmp_path, clip, micro_yaml, capsys, monkeypatch, code, needle):
    def refuse(self, data):  # the file is open and has its header: the writer got part of the way
        raise OSError(code, os.strerror(code), str(self.name))

    monkeypatch.setattr(sf.SoundFile, "write", refuse)
    assert main(["reconstruct", str(clip), str(tmp_path / "r.wav"), "--untrained", micro_yaml]) == 2
    assert needle in error_lines(capsys)[0]
    assert not list(tmp_path.glob("*.part*")) and not (tmp_path / "r.wav").exists()


def test_no_progress_hides_every_bar_including_clip_hashing(tables, capsys):
    assert main([*TABLES, str(tables)]) == 0
    captured = capsys.readouterr()
    assert "hashing clips" not in captured.out + captured.err
    shutil.rmtree(tables.parent / "out")
    assert main(["tables", "--only", "table2", "--config", str(tables)]) == 0
    captured = capsys.readouterr()
    assert "hashing clips" in captured.out + captured.err  # without the flag the bar is there
