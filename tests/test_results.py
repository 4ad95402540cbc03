"""benchmarks.results: the tidy DataFrame of every result, on the committed results/ and a hand-written set."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas", reason="pip install pandas (the bench extra)")

from benchmarks import results  # noqa: E402
from m2l2.cli import main  # noqa: E402
from m2l2.errors import M2L2Error  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"


def _json(experiment: str) -> dict:
    return json.loads((RESULTS / experiment / "default.json").read_text())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def committed():
    if not (RESULTS / "table2" / "default.json").is_file():
        pytest.skip("no committed results/")
    return results.load_dir(RESULTS, "default")


def test_committed_results_have_every_experiment_and_column(committed):
    assert list(committed.columns) == list(results.COLUMNS)
    assert set(committed["experiment"]) == set(results.EXPERIMENTS)
    for e in results.EXPERIMENTS:
        rows = committed[committed.experiment == e]
        assert set(rows["git_commit"]) == {_json(e)["provenance"]["git"]["commit"]}
        assert set(rows["created"]) == {_json(e)["provenance"]["created"]}
    assert json.loads(committed["versions"].iloc[0])["numpy"] == _json("table2")["provenance"]["versions"]["numpy"]


def test_committed_table2_rows_and_numbers_equal_the_json(committed):
    t2 = _json("table2")
    df = committed[committed.experiment == "table2"]
    summ = df[df.level == "summary"]
    assert len(summ) == sum(len(m["metrics"]) for m in t2["models"])
    for m in t2["models"]:
        for metric, s in m["metrics"].items():
            row = summ[(summ.model == m["label"]) & (summ.metric == metric)]
            assert len(row) == 1
            if s["value"] is None:
                assert math.isnan(row.value.iloc[0]) and row.status.iloc[0] == s["status"]
            else:
                assert row.value.iloc[0] == s["value"] and row.ci_low.iloc[0] == s["ci"][0]
    lines = _lines(RESULTS / "table2" / "default" / "per_clip.jsonl")
    per_clip_metrics = {k for r in lines for k in r} - {"clip", "key", "model", "reasons"}
    n_fad = sum(len(v) for m in t2["models"] for v in m["per_clip_fad"].values())
    clips = df[df.level == "clip"]
    assert len(clips) == len(lines) * len(per_clip_metrics) + n_fad
    worst = min(lines, key=lambda r: float(r["sisdr"]))
    got = clips[(clips.model == worst["model"]) & (clips["clip"] == worst["clip"]) & (clips.metric == "sisdr")]
    assert got.value.tolist() == [worst["sisdr"]]
    assert (clips[(clips.model == "Identity") & (clips.metric == "sisdr")].value == math.inf).all()
    m = t2["models"][-1]
    fad = clips[(clips.model == m["label"]) & (clips.metric == "fad-musicnn")].sort_values("clip_index")
    assert fad.value.tolist() == m["per_clip_fad"]["fad-musicnn"] and fad["clip"].notna().all()


def test_committed_points_seams_table3_speed_equal_the_json(committed):
    fig3 = _json("fig3")
    df = committed[(committed.experiment == "fig3") & (committed.level == "summary")]
    assert len(df) == sum(len(p["metrics"]) for p in fig3["points"])
    p = fig3["points"][3]
    row = df[(df.point == p["label"]) & (df.metric == "fad-musicnn")]
    assert row.value.tolist() == [p["metrics"]["fad-musicnn"]["value"]]
    assert row.sigma_cond.tolist() == [p["sigma_cond"]] and row.variant.tolist() == [p["mode"]]

    seams = _json("seams")
    m = seams["models"][0]
    df = committed[(committed.experiment == "seams") & (committed.level == "summary")]
    row = df[(df.model == m["label"]) & (df.variant == "independent") & (df.metric == "lsd-difference")]
    assert row.value.tolist() == [m["modes"]["independent"]["difference"]["value"]]

    t3 = _json("table3")
    runs = _lines(RESULTS / "table3" / "default" / "runs.jsonl")
    df = committed[committed.experiment == "table3"]
    assert (df.level == "run").sum() == sum(len(r["scores"]) for r in runs)
    m = t3["models"][1]
    s = m["results"]["notes-pitch"]["f1_macro"]
    row = df[(df.level == "summary") & (df.model == m["label"]) & (df.task == "notes-pitch") & (df.metric == "f1_macro")]
    assert row.value.tolist() == [s["mean"]] and row["std"].tolist() == [s["std"]] and row.n.tolist() == [s["n"]]

    speed = _json("speed")
    df = committed[committed.experiment == "speed"]
    assert len(df) == 4 * len(speed["rows"])
    r = speed["rows"][-1]
    assert df[(df.model == r["label"]) & (df.metric == "decode_rtf")].value.tolist() == [r["decode_rtf"]]


def _synthetic(root: Path) -> None:
    """A tiny Table II (two models, one skipped earlier and left in the rows) and a speed result."""
    prov = {"created": "2026-01-01T00:00:00+00:00", "git": {"commit": "abc", "dirty": False},
            "versions": {"numpy": "9.9"}}
    metric = {"status": "ok", "reason": None, "n": 2, "skipped": {}, "details": {}}
    t2 = {
        "table": "table2", "config_name": "tiny", "config_file": "tiny.yaml", "provenance": prov,
        "models": [
            {"label": "A", "metrics": {"sisdr": {**metric, "metric": "sisdr", "value": 3.5, "ci": [1.0, 6.0]},
                                       "fad-x": {**metric, "metric": "fad-x", "value": 7.0, "ci": [6.0, 8.0]}},
             "per_clip_fad": {"fad-x": [5.0, 9.0]}},
            {"label": "B", "metrics": {"sisdr": {**metric, "metric": "sisdr", "status": "not computed",
                                                 "reason": "why", "value": None, "ci": None, "n": 0}},
             "per_clip_fad": {}},
        ],
    }
    (root / "table2" / "tiny").mkdir(parents=True)
    (root / "table2" / "tiny.json").write_text(json.dumps(t2))
    rows = [{"clip": "c1", "model": "A", "key": "k", "reasons": {}, "sisdr": 2.0},
            {"clip": "c2", "model": "A", "key": "k", "reasons": {}, "sisdr": "inf"},
            {"clip": "c1", "model": "Gone", "key": "k", "reasons": {}, "sisdr": 1.0}]
    (root / "table2" / "tiny" / "per_clip.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken")
    speed = {"table": "speed", "config_name": "tiny", "provenance": prov,
             "rows": [{"label": "A", "encode_rtf": 0.5, "decode_rtf": 0.25}]}
    (root / "speed").mkdir()
    (root / "speed" / "tiny.json").write_text(json.dumps(speed))


def test_synthetic_result_set_gives_exactly_its_rows(tmp_path):
    _synthetic(tmp_path)
    df = results.load_dir(tmp_path, "tiny")
    # A: 2 summaries + 2 per-clip SI-SDR + 2 per-song FAD; B: 1 summary; Gone (not in the result) left out
    assert len(df[df.experiment == "table2"]) == 7 and "Gone" not in set(df.model)
    assert len(df[df.experiment == "speed"]) == 2
    clips = df[(df.level == "clip") & (df.metric == "sisdr")].sort_values("clip")
    assert clips.value.tolist() == [2.0, math.inf] and clips["clip"].tolist() == ["c1", "c2"]
    fad = df[(df.level == "clip") & (df.metric == "fad-x")]
    assert fad.value.tolist() == [5.0, 9.0] and fad["clip"].tolist() == ["c1", "c2"]
    b = df[df.model == "B"].iloc[0]
    assert math.isnan(b.value) and b.status == "not computed" and b.reason == "why"
    assert set(df.git_commit) == {"abc"} and set(df.config_name) == {"tiny"}
    a = df[(df.model == "A") & (df.level == "summary") & (df.metric == "sisdr")].iloc[0]
    assert (a.value, a.ci_low, a.ci_high, a.n) == (3.5, 1.0, 6.0, 2)


def test_missing_results_say_to_run_tables(tmp_path):
    with pytest.raises(M2L2Error, match="m2l2 tables"):
        results.load_dir(tmp_path, "nothing")


def test_cli_exports_csv_that_reads_back(tmp_path, monkeypatch, capsys):
    _synthetic(tmp_path / "out")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"name: tiny\noutput_dir: {tmp_path / 'out'}\ndataset: {{name: folder, root: x}}\n"
                   "models: [{name: identity, label: A}]\nmetrics: [sisdr]\n")
    out = tmp_path / "x.csv"
    assert main(["results", "export", "--config", str(cfg), "--format", "csv", "--out", str(out)]) == 0
    back = pd.read_csv(out)
    assert len(back) == 9 and list(back.columns) == list(results.COLUMNS)
    assert sorted(back[back.metric == "sisdr"].value.dropna().tolist()) == [2.0, 3.5, math.inf]
    assert "9 rows" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    assert main(["results", "export", "--config", str(cfg), "--format", "parquet", "--out", str(out)]) == 2
    assert "pip install pyarrow" in capsys.readouterr().err


def test_parquet_export_reads_back_wherever_pyarrow_is_installed(tmp_path):
    # The bench extra installs pyarrow; it must also import beside the clap extra's NumPy 1.x (pyarrow 26
    # needs NumPy 2 without declaring it, hence the bound in pyproject.toml): installed but broken fails here.
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow not installed (pip install 'm2l2[bench]')")
    _synthetic(tmp_path / "out")
    df = results.load_dir(tmp_path / "out", "tiny")
    out = results.export(df, tmp_path / "x.parquet", "parquet")
    back = pd.read_parquet(out)
    assert list(back.columns) == list(results.COLUMNS) and len(back) == len(df)
