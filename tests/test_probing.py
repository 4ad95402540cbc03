"""Table III probing: the mir_ref probe, its metrics, the per-item feature cache and the mir_ref export."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.datasets import KEYS, Item
from benchmarks.experiments.table3 import metrics as M
from benchmarks.experiments.table3.export import export_mir_ref, feature_name
from benchmarks.experiments.table3.features import FeatureModel, extract_features
from benchmarks.experiments.table3.mlp import ProbeConfig, train_probe

pytest.importorskip("sklearn", reason="probing metrics need scikit-learn (the bench/dev extra)")


# ----------------------------------------------------------------------------------------------- probe
def _clusters(n: int, classes: int, dim: int, rng: np.random.Generator, spread: float = 4.0):
    centres = rng.normal(0, spread, (classes, dim))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.normal(0, 1, (n, dim))).astype(np.float32), y


def test_probe_separable_classes_reach_high_accuracy():
    rng = np.random.default_rng(0)
    x, y = _clusters(700, 4, 16, rng)
    res = train_probe(x[:400], y[:400], x[400:500], y[400:500], 4, multilabel=False, seed=0)
    acc = np.mean(res.predict_scores(x[500:]).argmax(1) == y[500:])
    assert acc > 0.95


def test_probe_random_labels_stay_at_chance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1400, 16)).astype(np.float32)
    y = rng.integers(0, 4, 1400)
    res = train_probe(x[:600], y[:600], x[600:800], y[600:800], 4, multilabel=False, seed=0)
    acc = np.mean(res.predict_scores(x[800:]).argmax(1) == y[800:])
    assert 0.17 < acc < 0.33  # chance is 0.25; 600 test items give a standard error of ~0.018


def test_probe_multilabel_separable_tags():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(900, 12)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] < -0.5], axis=1).astype(np.float32)
    res = train_probe(x[:500], y[:500], x[500:600], y[500:600], 3, multilabel=True, seed=0)
    scores = M.tagging_scores(y[600:], res.predict_scores(x[600:]))
    assert scores["auc_roc"] > 0.95 and scores["tags_skipped"] == 0


def test_early_stopping_keeps_the_best_validation_epoch():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 32)).astype(np.float32)
    y = rng.integers(0, 3, 300)  # nothing to learn: small batches overfit, validation loss rises
    cfg = ProbeConfig(batch_size=16, patience=5)
    res = train_probe(x[:200], y[:200], x[200:], y[200:], 3, multilabel=False, seed=0, cfg=cfg)
    assert res.epochs_run < cfg.max_epochs  # stopped early
    losses = [h["val_loss"] for h in res.history]
    best_loss_epoch = int(np.argmin(losses)) + 1
    assert res.epochs_run == best_loss_epoch + cfg.patience  # exactly `patience` epochs without improvement
    metrics = [h["val_metric"] for h in res.history]
    assert res.best_epoch == int(np.argmax(metrics)) + 1
    restored = np.mean(res.predict_scores(x[200:]).argmax(1) == y[200:])
    assert restored == pytest.approx(max(metrics))  # the returned weights are the best epoch's, not the last
    assert metrics[-1] != max(metrics) or res.best_epoch == res.epochs_run


def test_no_item_dropped_at_prediction_and_runs_are_seeded():
    rng = np.random.default_rng(4)
    x, y = _clusters(400, 3, 8, rng)
    a = train_probe(x[:200], y[:200], x[200:300], y[200:300], 3, False, seed=7, cfg=ProbeConfig(max_epochs=5))
    b = train_probe(x[:200], y[:200], x[200:300], y[200:300], 3, False, seed=7, cfg=ProbeConfig(max_epochs=5))
    c = train_probe(x[:200], y[:200], x[200:300], y[200:300], 3, False, seed=8, cfg=ProbeConfig(max_epochs=5))
    big = rng.normal(size=(2 * 1083 + 5, 8)).astype(np.float32)  # two full batches and a partial one
    pa, pb, pc = a.predict_scores(big), b.predict_scores(big), c.predict_scores(big)
    assert pa.shape == (len(big), 3) and np.allclose(pa.sum(1), 1.0)
    assert np.array_equal(pa, pb)
    assert not np.allclose(pa, pc)


# ----------------------------------------------------------------------------------------------- metrics
@pytest.mark.parametrize(("ref", "est", "score"), [
    ("C major", "C major", 1.0),
    ("C major", "G major", 0.5),   # a fifth above
    ("C major", "F major", 0.0),   # a fifth below: 0 in mir_eval's default
    ("C major", "A minor", 0.3),   # relative minor
    ("A minor", "C major", 0.3),   # relative major
    ("C major", "C minor", 0.2),   # parallel
    ("A minor", "E minor", 0.5),
    ("A minor", "A major", 0.2),
    ("C major", "D major", 0.0),
    ("C major", "E minor", 0.0),
    ("B major", "F# major", 0.5),  # wraps around the octave
    ("D# minor", "F# major", 0.3),
])
def test_key_score_hand_cases(ref, est, score):
    assert M.key_score(ref, est) == score


def test_key_score_descending_fifth_option():
    assert M.key_score("C major", "F major", descending_fifths=True) == 0.5


def test_weighted_key_scores_micro_macro_by_hand():
    out = M.weighted_key_scores(["C major", "C major", "A minor"], ["C major", "G major", "C major"])
    assert out["key_weighted_micro"] == pytest.approx((1 + 0.5 + 0.3) / 3)
    assert out["key_weighted_macro"] == pytest.approx(((1 + 0.5) / 2 + 0.3) / 2)
    assert out["accuracy"] == pytest.approx(1 / 3)


def test_key_score_matches_mir_eval_on_all_pairs():
    mir_eval = pytest.importorskip("mir_eval.key", reason="mir_eval not installed (optional cross-check)")
    for ref, est in itertools.product(KEYS, KEYS):
        assert M.key_score(ref, est) == mir_eval.weighted_score(ref, est), (ref, est)


def test_tagging_scores_match_scikit_learn_and_skip_constant_tags():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(5)
    y = (rng.random((60, 5)) < 0.3).astype(int)
    y[:, 4] = 0  # a tag absent from the test set: no AUC defined
    s = rng.random((60, 5)) + 0.5 * y
    out = M.tagging_scores(y, s)
    assert out["tags_skipped"] == 1 and out["tags_scored"] == 4
    assert out["auc_roc"] == pytest.approx(roc_auc_score(y[:, :4], s[:, :4], average="macro"))
    assert out["auc_pr"] == pytest.approx(average_precision_score(y[:, :4], s[:, :4], average="macro"))
    # by hand: one tag, positives scored above every negative but one → AUC 5/6
    hand = M.tagging_scores(np.array([[1], [1], [0], [0], [0]]), np.array([[0.9], [0.4], [0.5], [0.1], [0.2]]))
    assert hand["auc_roc"] == pytest.approx(5 / 6)


def test_classification_scores_by_hand():
    out = M.classification_scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]))
    assert out["accuracy"] == out["f1_micro"] == pytest.approx(0.5)
    # per-class F1: class 0 (p 1, r .5) 2/3; class 1 (p 1/3, r 1) 1/2; class 2: 0 → macro 7/18
    assert out["f1_macro"] == pytest.approx(7 / 18)


# ----------------------------------------------------------------------------------------------- cache
def _write_items(root: Path, n: int) -> list[Item]:
    items = []
    for i in range(n):
        p = root / "audio" / ("a" if i % 2 else "b") / f"clip{i}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(8000) / 8000
        sf.write(p, (0.1 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32), 8000)
        items.append(Item(f"clip{i}", p, {"k": str(i % 2)}, "train"))
    return items


def _fake_model(calls: list[int], tag: str = "v1") -> FeatureModel:
    def fn(audio: np.ndarray) -> np.ndarray:
        calls.append(1)
        return np.array([audio.mean(), audio.std(), np.abs(audio).max()], dtype=np.float32)

    return FeatureModel("fake", {"fake": tag}, 8000, 1, fn)


def test_feature_cache_hits_and_invalidates_on_audio_change(tmp_path):
    items = _write_items(tmp_path / "data", 4)
    calls: list[int] = []
    x1, s1 = extract_features(_fake_model(calls), items, tmp_path / "cache", progress=False)
    assert s1 == {"computed": 4, "reused": 0} and x1.shape == (4, 3)
    x2, s2 = extract_features(_fake_model(calls), items, tmp_path / "cache", progress=False)
    assert s2 == {"computed": 0, "reused": 4} and np.array_equal(x1, x2) and len(calls) == 4
    sf.write(items[2].path, np.zeros(8000, np.float32) + 0.05, 8000)  # the audio changes
    x3, s3 = extract_features(_fake_model(calls), items, tmp_path / "cache", progress=False)
    assert s3 == {"computed": 1, "reused": 3} and x3[2, 0] == pytest.approx(0.05, abs=1e-4)
    _, s4 = extract_features(_fake_model(calls, tag="v2"), items, tmp_path / "cache", progress=False)
    assert s4["computed"] == 4  # another model identity never reuses these vectors


# ----------------------------------------------------------------------------------------------- export
def test_export_writes_mir_ref_layout(tmp_path):
    items = _write_items(tmp_path / "data", 3)
    feats = np.arange(9, dtype=np.float32).reshape(3, 3)
    folder = export_mir_ref(tmp_path / "out", "suite-notes", "MusiCNN-MSD", items, feats)
    assert folder == tmp_path / "out" / "suite-notes" / "embeddings" / "musicnn-msd"
    # mir_ref: <dir>/embeddings/<feature>/<path relative to the common audio folder>.npy, one vector each
    for it, row in zip(items, feats):
        rel = it.path.relative_to(tmp_path / "data" / "audio").with_suffix(".npy")
        assert np.array_equal(np.load(folder / rel), row)
    meta = (tmp_path / "out" / "suite-notes" / "metadata.csv").read_text().splitlines()
    assert meta[0].startswith("id,audio,embedding,split,labels") and len(meta) == 4
    assert feature_name("Music2Latent2 (tiny, summary)") == "music2latent2--tiny--summary"
