"""Table III end to end on a miniature generated suite: MusiCNN-MSD and a micro random-weights Music2Latent2
(test-only), three tasks, resume, rendering and the mir_ref export."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("sklearn", reason="probing metrics need scikit-learn (the bench/dev extra)")

from benchmarks.experiments import RunOptions, run_experiment  # noqa: E402
from benchmarks.experiments.table3.config import load_table3_config, table3_config_from_dict  # noqa: E402
from benchmarks.experiments.table3.features import FeatureModelConfig, build_feature_model  # noqa: E402


def run_table3(cfg, progress=True):
    """Table III of a parsed `table3:` section, then its tables rendered."""
    return run_experiment("table3", None, RunOptions(progress), settings=cfg)

SR = 16000
PCS = ["C", "E", "G", "A"]
MICRO_M2L2 = {"model": {"channels": 1, "latent_kind": "summary", "num_latents": 2, "latent_dim": 8,
                        "chunk_frames": 64, "level_channels": [4, 8, 16], "level_blocks": [1, 1, 1],
                        "down_factors": [[16, 4], [16, 4]], "dim": 16, "depth": 1, "heads": 2, "mlp_mult": 1,
                        "noise_channels": 16, "norm_groups": 4}}


def _tone(midi: int, square: bool, seconds: float = 1.0, gain: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    s = np.sin(2 * np.pi * 440.0 * 2 ** ((midi - 69) / 12) * t)
    return (gain * (np.sign(s) if square else s) * np.exp(-2 * t)).astype(np.float32)


def make_suite(root: Path) -> Path:
    """notes/: 10 tones (2 per fold; pitch class, instrument, multi-label families); key/: 6 chord clips."""
    notes = root / "notes"
    (notes / "audio").mkdir(parents=True)
    rows = ["id,path,split,instrument,family,midi,pitch_class,soundfont,fold,instrument_families"]
    for i in range(10):
        fold, square = i // 2, bool(i % 2)
        midi = 60 + [0, 4, 7, 9][i % 4]
        nid = f"n{i:02d}"
        sf.write(notes / "audio" / f"{nid}.flac", _tone(midi, square, gain=0.2 + 0.02 * i), SR)  # all distinct
        fam = "brass;strings" if square else "strings"
        rows.append(f"{nid},audio/{nid}.flac,,{'Square' if square else 'Sine'},x,{midi},{PCS[i % 4]},test,{fold},{fam}")
    (notes / "metadata.csv").write_text("\n".join(rows) + "\n")
    key = root / "key"
    (key / "audio").mkdir(parents=True)
    rows = ["id,path,split,key"]
    for i, (k, split) in enumerate([("C major", "train"), ("G major", "train"), ("A minor", "train"),
                                    ("C major", "valid"), ("G major", "test"), ("A minor", "test")]):
        tonic = {"C major": 60, "G major": 67, "A minor": 69}[k]
        third = 3 if "minor" in k else 4
        audio = sum(_tone(tonic + d, False, 2.0, gain=0.2 + 0.02 * i) for d in (0, third, 7)) / 3
        sf.write(key / "audio" / f"k{i}.flac", audio, SR)
        rows.append(f"k{i},audio/k{i}.flac,{split},{k}")
    (key / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def _config(tmp: Path, models: list[dict]) -> dict:
    suite = str(make_suite(tmp / "suite"))
    return {
        "seeds": [0, 1],
        "cache_dir": str(tmp / "cache"), "output_dir": str(tmp / "results"), "export_dir": str(tmp / "export"),
        "probe": {"max_epochs": 20},
        "tasks": [
            {"name": "pitch", "dataset": "suite-notes", "root": suite, "label": "pitch_class", "type": "multiclass",
             "split": "folds", "folds": [0, 2]},
            {"name": "families", "dataset": "suite-notes", "root": suite, "label": "instrument_families",
             "type": "multilabel", "split": "given"},
            {"name": "key", "dataset": "suite-key", "root": suite, "label": "key", "type": "key"},
            {"name": "absent", "dataset": "suite-tags", "root": suite, "label": "tags", "type": "multilabel"},
        ],
        "models": models,
    }


MICRO = {"label": "M2L2 micro (random)", "kind": "autoencoder", "baseline": "music2latent2",
         "options": {"build": MICRO_M2L2}, "allow_random": True}


def test_random_weights_are_refused_unless_allowed():
    model, why = build_feature_model(FeatureModelConfig(**{**MICRO, "allow_random": False}))
    assert model is None and "pretrained" in why
    model, why = build_feature_model(FeatureModelConfig(**MICRO))
    assert why is None and model.embed_clip(np.zeros((1, 8000), np.float32)).ndim == 1


def test_shipped_configs_parse():
    cfg = load_table3_config("default")
    assert [m.label for m in cfg.models][0] == "MusiCNN-MSD" and cfg.seeds == [0, 1, 2]
    assert {t.type for t in cfg.tasks} == {"multiclass", "key", "multilabel"}
    paper = load_table3_config("paper")
    assert {t.dataset for t in paper.tasks} == {"mtat", "beatport", "tinysol"}


@pytest.mark.slow
def test_table3_end_to_end_resume_render_export(tmp_path):
    models = [MICRO]
    if importlib.util.find_spec("musicnn") is not None:
        models.insert(0, {"label": "MusiCNN-MSD", "kind": "representation", "embedder": "fad-musicnn"})
    cfg = table3_config_from_dict({**_config(tmp_path, models), "probe_workers": 2}, "mini")
    s1 = run_table3(cfg, progress=False)
    assert s1.features_computed == 16 * len(models) and s1.features_reused == 10 * len(models)
    assert s1.runs_computed == (2 * 2 + 2 + 2) * len(models)  # pitch: 2 folds x 2 seeds; families, key: 2 seeds
    assert "absent" in s1.skipped_tasks and "not built" in s1.skipped_tasks["absent"]
    result = json.loads(Path(s1.result_file).read_text())
    assert [m["label"] for m in result["models"]] == [m["label"] for m in models]
    runs = [json.loads(line) for line in (tmp_path / "results" / "table3" / "mini" / "runs.jsonl").open()]
    sizes = {t["name"]: t["split_sizes"] for t in result["tasks"]}
    for r in runs:  # every test item is scored
        fold = "None" if r["fold"] is None else str(r["fold"])
        assert r["n_test"] == sizes[r["task"]][fold]["test"] == 2
    for m in result["models"]:
        pitch = m["results"]["pitch"]["f1_micro"]
        assert pitch["n"] == 4 and 0.0 <= pitch["mean"] <= 1.0
        assert set(m["results"]["key"]) == {"key_weighted_micro", "key_weighted_macro", "accuracy"}
        assert m["results"]["families"]["auc_roc"]["n"] == 2
    md = (tmp_path / "results" / "tables" / "table3_mini.md").read_text()
    assert "M2L2 micro (random)" in md and "Published Table III" in md and "Task not run: absent" in md
    assert (tmp_path / "results" / "tables" / "table3_mini.tex").read_text().count(r"\toprule") == 2
    exported = sorted((tmp_path / "export" / "suite-notes" / "embeddings").glob("*/*.npy"))
    assert len(exported) == 10 * len(models)
    # a second run recomputes nothing and leaves the result file as it was
    before = Path(s1.result_file).read_text()
    s2 = run_table3(cfg, progress=False)
    assert s2.features_computed == 0 and s2.runs_computed == 0 and s2.runs_reused == s1.runs_computed
    assert Path(s2.result_file).read_text() == before
    # probes trained one after another in this process give the same numbers as the two worker processes
    serial = dataclasses.replace(cfg, probe_workers=1, output_dir=str(tmp_path / "serial"))
    assert run_table3(serial, progress=False).runs_computed == s1.runs_computed
    serial_runs = [json.loads(line) for line in (tmp_path / "serial" / "table3" / "mini" / "runs.jsonl").open()]

    def by_run(rows):
        return {(r["model"], r["task"], r["fold"], r["seed"]): (r["scores"], r["best_epoch"]) for r in rows}

    assert by_run(serial_runs) == by_run(runs)
    # a fresh clone: the run log and result file, no feature cache (and no export): nothing is embedded
    fresh = dataclasses.replace(cfg, export_dir=None)
    shutil.rmtree(tmp_path / "cache" / "probing" / "features")
    s3 = run_table3(fresh, progress=False)
    assert (s3.features_computed, s3.features_reused, s3.runs_computed) == (0, 0, 0)
    again = json.loads(Path(s3.result_file).read_text())
    assert [m["results"] for m in again["models"]] == [m["results"] for m in result["models"]]
    assert [m["features"] for m in again["models"]] == [m["features"] for m in result["models"]]
