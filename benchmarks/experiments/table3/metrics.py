"""Probing metrics as in the paper's Table III: macro AUC-ROC / AUC-PR (tagging), mir_eval-style weighted key
score micro and macro plus plain accuracy (key), micro / macro F1 (pitch class, instrument).

All scores are fractions in [0, 1]; tables print them as percentages like the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.datasets.base import PITCH_CLASSES
from benchmarks.metrics import MetricSpec

MODES = ("major", "minor")
# How each probing score is shown (in %, one decimal) and that higher is better, declared once.
PROBE_METRICS: dict[str, MetricSpec] = {
    name: MetricSpec(name, title, title, True, 1)
    for name, title in (
        ("auc_roc", "AUC-ROC"),
        ("auc_pr", "AUC-PR"),
        ("key_weighted_micro", "weighted micro"),
        ("key_weighted_macro", "weighted macro"),
        ("accuracy", "accuracy"),
        ("f1_micro", "F1 micro"),
        ("f1_macro", "F1 macro"),
    )
}


def parse_key(key: str) -> tuple[int, str]:
    """'C# minor' → (1, 'minor'): tonic as pitch-class index and mode (sharps, as the dataset loaders write)."""
    tonic, mode = key.split()
    if tonic not in PITCH_CLASSES or mode not in MODES:
        raise ValueError(f"not a key: {key!r}")
    return PITCH_CLASSES.index(tonic), mode


def key_score(reference: str, estimate: str, descending_fifths: bool = False) -> float:
    """mir_eval's weighted score of one estimate: 1 same key; 0.5 a perfect fifth above (same mode); 0.3 the
    relative major/minor; 0.2 the parallel major/minor; 0 otherwise. A fifth below also scores 0.5 only with
    `descending_fifths` (mir_eval's `allow_descending_fifths`, off by default)."""
    ref_tonic, ref_mode = parse_key(reference)
    est_tonic, est_mode = parse_key(estimate)
    up = (est_tonic - ref_tonic) % 12
    if ref_mode == est_mode:
        if up == 0:
            return 1.0
        if up == 7 or (descending_fifths and up == 5):
            return 0.5
        return 0.0
    if ref_mode == "major" and up == 9:  # estimate is the relative minor (a minor third below)
        return 0.3
    if ref_mode == "minor" and up == 3:  # estimate is the relative major (a minor third above)
        return 0.3
    if up == 0:
        return 0.2
    return 0.0


def weighted_key_scores(references: Sequence[str], estimates: Sequence[str]) -> dict[str, float]:
    """Micro (mean over tracks) and macro (mean over reference keys of their tracks' mean) weighted score,
    and plain accuracy (exact key)."""
    if len(references) != len(estimates) or not references:
        raise ValueError("need equally many (>0) references and estimates")
    scores = np.array([key_score(r, e) for r, e in zip(references, estimates)])
    per_key = {k: scores[[r == k for r in references]].mean() for k in sorted(set(references))}
    return {
        "key_weighted_micro": float(scores.mean()),
        "key_weighted_macro": float(np.mean(list(per_key.values()))),
        "accuracy": float(np.mean([r == e for r, e in zip(references, estimates)])),
    }


def tagging_scores(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Macro AUC-ROC and macro average precision over the tags that have both classes in `y_true` (a tag
    absent from the test set has no defined AUC; how many were left out is returned too)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true = np.asarray(y_true).astype(int)
    positives = y_true.sum(0)
    usable = (positives > 0) & (positives < len(y_true))
    if not usable.any():
        raise ValueError("no tag has both positive and negative test items")
    t, s = y_true[:, usable], np.asarray(y_score)[:, usable]
    return {
        "auc_roc": float(roc_auc_score(t, s, average="macro")),
        "auc_pr": float(average_precision_score(t, s, average="macro")),
        "tags_scored": int(usable.sum()),
        "tags_skipped": int((~usable).sum()),
    }


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, micro F1 (equal to accuracy for single-label data) and macro F1 over the classes present in
    the test labels or predictions (scikit-learn's default)."""
    from sklearn.metrics import f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "f1_micro": float(f1_score(y_true, y_pred, average="micro")),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro")),
    }
