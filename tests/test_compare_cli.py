"""`m2l2 compare` and the comparisons the rendered tables show (rendering.differences / set_comparisons):
agreement with `m2l2 metrics`, one-line errors, set differences found in the tables' embedding cache and
remembered, Table II's `compare_to`, Fig. 3's Holm-marked points."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.config import config_from_dict
from benchmarks.evalset import load_clips
from benchmarks.experiments.scoring import recon_file, recon_folder
from benchmarks.metrics.cache import EmbeddingCache, file_content_hash
from benchmarks.metrics.frechet import fad
from benchmarks.rendering import differences
from benchmarks.rendering import fig3 as fig3_rendering
from benchmarks.rendering import table1 as table1_rendering
from m2l2.cli import main
from m2l2.errors import M2L2Error


def _noisy_copies(src: Path, dst: Path, level: float, seed: int) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        x, sr = sf.read(f, always_2d=True)
        sf.write(dst / f.with_suffix(".flac").name, x + level * rng.standard_normal(x.shape), sr)
    return dst


@pytest.fixture
def folders(tmp_path, tone_clips):
    ref = tone_clips(tmp_path / "ref", n=6, seconds=0.3)
    return ref, _noisy_copies(ref, tmp_path / "a", 0.01, 1), _noisy_copies(ref, tmp_path / "b", 0.05, 2)


def test_compare_agrees_with_metrics_and_finds_the_better_system(folders, capsys):
    ref, a, b = folders
    assert main(["compare", str(a), str(b), "--ref", str(ref), "--metrics", "sisdr,mel-distance",
                 "--json", "--no-progress"]) == 0  # fmt: skip
    got = {c["metric"]: c for c in json.loads(capsys.readouterr().out)["comparisons"]}
    for side, folder in (("value_a", a), ("value_b", b)):
        assert main(["metrics", str(ref), str(folder), "--metrics", "sisdr,mel-distance", "--json",
                     "--no-progress", "--cache-dir", "none"]) == 0  # fmt: skip
        scored = json.loads(capsys.readouterr().out)
        for m in ("sisdr", "mel-distance"):
            assert got[m][side] == pytest.approx(scored[m]["value"], rel=1e-9)
    s = got["sisdr"]
    assert s["difference"] == pytest.approx(s["value_a"] - s["value_b"])
    assert s["n_clips"] == 6 and s["ci"][0] > 0 and s["p_value"] == pytest.approx(2 / 64)  # exact: 2^6
    assert got["mel-distance"]["difference"] < 0  # less noise, smaller distance
    assert main(["compare", str(a), str(b), "--ref", str(ref), "--metrics", "sisdr", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "p=0.031*" in text and "A − B" in text


def test_compare_errors_are_one_line(folders, tmp_path, capsys):
    ref, a, _ = folders
    assert main(["compare", str(a), str(tmp_path / "nope"), "--ref", str(ref)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "B folder not found" in err and str(tmp_path / "nope") in err
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(a), str(tmp_path / "empty"), "--ref", str(ref)]) == 2
    assert "no clip is in all three folders" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "--ref", str(ref), "--ci-level", "95"]) == 2
    assert "--ci-level" in capsys.readouterr().err


class _FakeEmbedder:
    """Frames of block statistics of the signal: cheap and deterministic, enough for the set engine."""

    name, sample_rate = "fake", 16000

    def identity(self) -> str:
        return "fake@1"

    def embed(self, audio: np.ndarray) -> np.ndarray:
        blocks = audio[: len(audio) // 800 * 800].reshape(-1, 800)
        spec = np.abs(np.fft.rfft(blocks, axis=1))[:, 1:9]
        return np.log(spec + 1e-3).astype(np.float32)


def test_compare_set_metrics_use_cached_embeddings(folders, tmp_path, monkeypatch, capsys):
    import benchmarks.embedders

    monkeypatch.setattr(benchmarks.embedders, "get_embedder", lambda key, **_: _FakeEmbedder())
    ref, a, b = folders
    args = ["compare", str(a), str(b), "--ref", str(ref), "--metrics", "fad-musicnn,kad-musicnn", "--json",
            "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--fad-bootstrap", "50"]  # fmt: skip
    assert main(args) == 0
    got = json.loads(capsys.readouterr().out)["comparisons"]
    assert [(c["metric"], c["kind"]) for c in got] == [
        ("fad-musicnn", "set"), ("fad-musicnn", "per-song"), ("kad-musicnn", "set")
    ]
    frames = len(_FakeEmbedder().embed(np.zeros(int(0.3 * 16000))))
    assert got[0]["frames"] == [6 * frames] * 3 and got[0]["resamples"] == 50 and got[2]["resamples"] == 1000
    assert got[0]["difference"] == pytest.approx(got[0]["value_a"] - got[0]["value_b"], rel=1e-6)
    assert got[0]["difference"] < 0 and got[2]["difference"] < 0  # A is the closer copy
    assert got[1]["status"] == "ok" and got[1]["n_clips"] == 6 and got[1]["test"].startswith("paired sign-flip")
    assert any((tmp_path / "cache").rglob("*.npy"))
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["comparisons"] == got  # seeded


# ----------------------------------------------------------------------------------------------- tables


def _table1_layout(tmp_path: Path, tone_clips) -> tuple[Path, dict, dict]:
    """A Table I result whose reconstructions and embeddings sit in the tables' cache (fake embedder)."""
    clips_dir = tone_clips(tmp_path / "clips", n=8, seconds=0.2)
    cfg = config_from_dict({
        "name": "mini", "dataset": {"name": "folder", "root": str(clips_dir), "split": None},
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
        "models": [{"name": "identity", "label": "S"}, {"name": "identity", "label": "O"}],
        "metrics": ["fad-musicnn"],
    })  # fmt: skip
    clips = load_clips(cfg, Path(cfg.cache_dir))
    cache = EmbeddingCache(Path(cfg.cache_dir) / "embeddings")
    rng = np.random.default_rng(0)
    emb: dict[str, list[np.ndarray]] = {"ref": [], "S": [], "O": []}
    for clip in clips:
        base = rng.normal(size=(3, 4))
        emb["ref"].append(base)
        cache.put(cache.key("fake@1", file_content_hash(clip.reference)), base)
        for label, noise in (("S", 0.3), ("O", 0.9)):
            path = recon_file(recon_folder(cfg, label), clip)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{label}/{clip.id}".encode())  # only its hash keys the embedding
            e = base + noise * rng.standard_normal(base.shape)
            emb[label].append(e)
            cache.put(cache.key("fake@1", file_content_hash(path)), e)
    x = np.concatenate(emb["ref"])
    points = [
        {"label": label, "model": label, "role": role, "aggregate_key": f"agg-{label}", "compression_ratio": 64.0,
         "metrics": {"fad-musicnn": {"status": "ok", "value": fad(x, np.concatenate(emb[label])), "ci": [0, 9],
                                     "n": 8, "details": {"frames_estimate": 24, "frames_reference": 24}}}}
        for label, role in (("S", "summary"), ("O", "ordered"))
    ]  # fmt: skip
    result = {
        "table": "table1", "config_name": "mini", "config": cfg.as_dict(), "config_file": "mini.yaml",
        "dataset": {"name": "folder", "split": None, "clips": 8}, "metrics": ["fad-musicnn"],
        "embedders": {"fad-musicnn": "fake@1"}, "points": points, "provenance": {},
    }  # fmt: skip
    path = tmp_path / "out" / "table1" / "mini.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result))
    return path, result, emb


def test_table_set_differences_come_from_the_embedding_cache_and_are_remembered(tmp_path, tone_clips):
    path, result, emb = _table1_layout(tmp_path, tone_clips)
    x = np.concatenate(emb["ref"])
    expected = fad(x, np.concatenate(emb["S"])) - fad(x, np.concatenate(emb["O"]))
    (c,) = differences.table1_comparisons(result, path)
    assert c.ok and c.kind == "set" and c.difference == pytest.approx(expected, rel=1e-6)
    assert c.frames == (24, 24, 24) and c.n_clips == 8 and c.resamples == 200
    assert (path.parent / "mini" / "comparisons.jsonl").is_file()

    shutil.rmtree(tmp_path / "cache" / "embeddings")  # remembered: no cache needed any more
    (again,) = differences.table1_comparisons(result, path)
    assert again.to_dict() == c.to_dict()
    paths = table1_rendering.render(path, tmp_path / "out", paper_file=None)
    md = (tmp_path / "out" / "tables" / "table1_mini.md").read_text()
    assert "(8/24)" in md and "summary − ordered" in md and "FAD is biased by sample size" in md
    rows = (tmp_path / "out" / "tables" / "differences" / "table1_mini.csv").read_text().splitlines()
    assert rows[0].startswith("table,family,a,b,metric,kind,status") and ",set,ok," in rows[1]
    assert any(p.parent.name == "differences" and p.name == "table1_mini.csv" for p in paths)

    result["points"][0]["aggregate_key"] = "changed"  # not remembered, and the cache is gone
    (gone,) = differences.table1_comparisons(result, path)
    assert gone.status == "not computed" and gone.reason.startswith("needs the embedding cache — ")


def test_stale_embeddings_are_never_compared(tmp_path, tone_clips):
    path, result, _ = _table1_layout(tmp_path, tone_clips)
    result["points"][0]["metrics"]["fad-musicnn"]["value"] += 1.0  # not what the cached embeddings give
    (c,) = differences.table1_comparisons(result, path)
    assert c.status == "not computed" and "do not give this result's values" in c.reason
    assert not (path.parent / "mini" / "comparisons.jsonl").exists()


def _table2_result(tmp_path: Path, compare_to: str | None) -> Path:
    rng = np.random.default_rng(3)
    clip = rng.normal(0, 1, 20)  # each clip's difficulty, shared by the systems
    values = {k: clip + mean + rng.normal(0, 0.05, 20) for k, mean in (("A", 5.0), ("B", 4.0), ("C", 4.9))}
    models = [
        {"label": k, "kind": "codec", "pretrained": True, "metrics": {"sisdr": {"status": "ok", "value": float(v.mean()), "n": 20}}}
        for k, v in values.items()
    ]  # fmt: skip
    result = {"table": "table2", "config_name": "t", "config": {"table2": {"compare_to": compare_to}}, "metrics": ["sisdr"],
              "models": models, "config_file": "t.yaml"}  # fmt: skip
    path = tmp_path / "table2" / "t.json"
    (path.parent / "t").mkdir(parents=True)
    path.write_text(json.dumps(result))
    rows = [{"model": k, "clip": f"c{i}", "sisdr": float(x)} for k, v in values.items() for i, x in enumerate(v)]
    (path.parent / "t" / "per_clip.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_table2_compares_to_the_best_row_or_the_configured_one(tmp_path):
    path = _table2_result(tmp_path, None)
    result = json.loads(path.read_text())
    comps, refs = differences.table2_comparisons(result, path)
    assert refs == {("sisdr", "per-clip"): "A"} and [c.a for c in comps] == ["B", "C"]
    assert all(c.family.endswith("(Holm, 2 tests)") and c.p_adjusted >= c.p_value for c in comps)
    comps, refs = differences.table2_comparisons(result, path, "C")
    assert refs == {("sisdr", "per-clip"): "C"} and {c.b for c in comps} == {"C"}
    with pytest.raises(M2L2Error, match="table2.compare_to: no measured row labelled 'Z'"):
        differences.table2_comparisons(result, path, "Z")
    result["config"]["table2"] = {"compare_to": "B"}
    assert {c.b for c in differences.for_result(result, path)} == {"B"}
    yaml_file = tmp_path / "t.yaml"  # the configuration file, when present, is read at render time
    yaml_file.write_text("table2:\n  compare_to: C\n")
    assert differences.table2_compare_to({**result, "config_file": str(yaml_file)}) == "C"
    yaml_file.write_text("table2:\n  compare_too: C\n")
    with pytest.raises(M2L2Error, match="unknown keys"):
        differences.table2_compare_to({**result, "config_file": str(yaml_file)})
    result["models"][0]["metrics"]["sisdr"]["value"] += 0.5  # rows of another run than the stored mean
    comps, _ = differences.table2_comparisons(result, path, "B")
    assert comps[0].status == "not computed" and "do not give the stored mean" in comps[0].reason


def test_fig3_marks_points_that_differ_after_holm():
    rng = np.random.default_rng(0)
    base = rng.normal(100, 10, 30)

    def point(mode, sigma, shift):
        song = base + shift + rng.normal(0, 0.5, 30)
        return {"model": "M", "label": f"M {mode} {sigma}", "mode": mode, "sigma_cond": sigma,
                "metrics": {"fad-musicnn": {"status": "ok", "value": float(song.mean()), "ci": [0, 1], "n": 30,
                                            "details": {"per_clip_mean": float(song.mean())}}},
                "per_clip_fad": {"fad-musicnn": [float(v) for v in song]}}  # fmt: skip

    points = [point("two-step", 0.0, 0.0), point("two-step", 0.4, -5.0), point("two-step", 0.8, 0.05),
              point("one-step", 0.4, 0.0)]  # fmt: skip
    result = {"config_name": "hand", "config": {"eval": {"ci_level": 0.95}}, "metrics": ["fad-musicnn"],
              "dataset": {"name": "x", "clips": 30}, "points": points}  # fmt: skip
    comps = differences.fig3_comparisons(result, None)
    kind, differ = fig3_rendering.significant(result, comps, "M", "fad-musicnn")
    assert kind == "per-song"  # the set FAD needs the embedding cache, which a hand-made result lacks
    assert differ["one-step"] == {"M two-step 0.4"} and differ["sigma_cond=0"] == {"M two-step 0.4"}
    md = "\n".join(fig3_rendering.difference_table(result, comps).markdown_lines())
    assert "Holm correction within each family" in md and "ref." in md
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| two-step |")}
    assert rows["0.40"].count(r"p<0.001\*\*\*") == 2 and "\\*" not in rows["0.80"]
    # set-FAD comparisons whose p is only the floor of too few resamples (k = 0: 2/201 x Holm's 17 = 0.17)
    # cannot mark anything: the marks come from the per-song test; with a floor below 0.05 they come from the set
    import dataclasses

    def as_set(p):
        return [dataclasses.replace(c, kind="set", p_value=p, p_adjusted=p, sign_flip_share=0.0) for c in comps]

    kind, differ = fig3_rendering.significant(result, comps + as_set(0.169), "M", "fad-musicnn")
    assert kind == "per-song" and differ["one-step"] == {"M two-step 0.4"}
    kind, differ = fig3_rendering.significant(result, comps + as_set(0.01), "M", "fad-musicnn")
    assert kind == "set" and "M two-step 0.8" in differ["one-step"]
