"""What the captions and rows of every table share: dataset titles, weights, random-weights labels, the
paper's published numbers, metric cells with footnotes for values that were not computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmarks.metrics import METRICS
from benchmarks.rendering.table import Cell, csv_num

PAPER_FILE = Path(__file__).resolve().parent.parent / "data" / "paper_tables.yaml"
DATASET_TITLES = {
    "suite-music": "the offline default suite's music part (real recorded game music, 10 s clips)",
    "musiccaps": "MusicCaps (AudioSet eval split)",
    "folder": "a folder of audio files",
}
# Rows of random-weights models (test configurations only) are labelled so they can never pass for results.
RANDOM_LABEL = "random weights (test only)"


def load_paper_tables(path: Path | None = PAPER_FILE) -> dict[str, Any] | None:
    """The paper's published tables (None when `path` is None: render without them)."""
    return None if path is None else yaml.safe_load(path.read_text(encoding="utf-8"))


def dataset_title(name: str) -> str:
    return DATASET_TITLES.get(name, name)


def ci_level_pct(result: dict[str, Any]) -> int:
    return int(round(100 * result["config"]["eval"]["ci_level"]))


def random_label(text: str, random_weights: bool) -> str:
    return f"{text} — {RANDOM_LABEL}" if random_weights else text


def weights_text(prov: dict[str, Any]) -> str:
    """A model's weights for a caption: file or note, with the start of its sha256."""
    text = prov.get("weights") or prov.get("note") or "none"
    return text + (f" (sha256 {prov['sha256'][:12]})" if prov.get("sha256") else "")


def compression_text(ratio: float | None) -> str:
    return "N/A" if ratio is None else f"{ratio:.4g}x"


def metric_columns(metrics: list[str]) -> list[str]:
    """The metrics of a result that tables show (those with a declared spec), in its order."""
    return [m for m in metrics if m in METRICS]


def metric_heads(metrics: list[str]) -> tuple[list[str], list[str]]:
    """(Markdown, LaTeX) column titles of metric columns, with the direction arrow."""
    return (
        [f"{METRICS[m].title} {METRICS[m].arrow}" for m in metrics],
        [f"{METRICS[m].tex_title} {METRICS[m].tex_arrow}" for m in metrics],
    )


def summary_cell(
    summary: dict[str, Any] | None,
    metric: str,
    notes: list[str],
    absent: str = "not selected in this configuration's metrics",
) -> Cell:
    """A metric summary as a cell: the value with its interval, or "n/c" with a footnote (added to `notes`)."""
    s = summary or {"status": "not computed", "reason": absent}
    if s.get("status") == "ok" and s.get("value") is not None:
        return Cell(float(s["value"]), tuple(s["ci"]) if s.get("ci") else None)
    text = f"{metric}: {s.get('reason') or 'not computed'}"
    if text not in notes:
        notes.append(text)
    return Cell(note=notes.index(text) + 1)


def mark_metric_columns(
    rows: list[dict[str, Cell]],
    kinds: list[str],
    metrics: list[str],
    underline: bool = True,
    digits: dict[str, int] | None = None,
) -> None:
    """Per metric column: bold the best compared row (the identity reference excluded), underline the best
    learned autoencoder; "best" in the metric's declared direction at the precision shown."""
    from benchmarks.rendering.table import mark_best

    for m in metrics:
        spec = METRICS[m]
        bold_pool = [r[m] for r, k in zip(rows, kinds) if k != "reference"]
        under_pool = [r[m] for r, k in zip(rows, kinds) if k == "autoencoder"] if underline else []
        mark_best(bold_pool, under_pool, spec.higher_is_better, (digits or {}).get(m, spec.digits))


def footnotes(notes: list[str]) -> list[str]:
    return [f"n/c^{i}: not computed — {text}" for i, text in enumerate(notes, 1)]


def csv_metric_header(metrics: list[str]) -> list[str]:
    return [name for m in metrics for name in (m, f"{m}_ci_low", f"{m}_ci_high")]


def csv_metric_values(cells: dict[str, Cell], metrics: list[str]) -> list[str]:
    """Each metric's value and interval bounds as CSV fields (empty where absent)."""
    out = []
    for m in metrics:
        low, high = cells[m].ci if cells[m].ci else (None, None)
        out += [csv_num(cells[m].value), csv_num(low), csv_num(high)]
    return out


def common_caption(result: dict[str, Any]) -> list[str]:
    """Caption sentences of the FAD-point tables: dataset, embedders, weights, random weights, skips."""
    ds = result["dataset"]
    parts = [
        f"Measured on {dataset_title(ds['name'])}: {ds['clips']} clips"
        + (f" of split '{ds['split']}'" if ds.get("split") else "")
        + f" (config '{result['config_name']}')."
    ]
    emb = result.get("embedders") or {}
    if emb:
        parts.append("Embedders: " + "; ".join(f"{m} = {ident}" for m, ident in emb.items()) + ".")
    weights = [
        f"{label}: {weights_text(w)}"
        for label, w in (result.get("provenance", {}).get("weights") or {}).items()
    ]
    if weights:
        parts.append("Weights: " + "; ".join(weights) + ".")
    if result.get("random_weights"):
        parts.append(
            f"Rows marked '{RANDOM_LABEL}' come from untrained models of a test configuration: they "
            "show that the pipeline runs, not how any model performs."
        )
    parts += skipped_sentences(result)
    return parts


def skipped_sentences(result: dict[str, Any]) -> list[str]:
    return [f"Not run: {label} ({why})." for label, why in (result.get("skipped_models") or {}).items()]
