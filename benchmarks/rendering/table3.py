"""Table III from a probing result file, with the paper's published table.

Cells are mean ± std over runs (seeds, and folds where the task has them), in percent like the paper. Per
column the best mean is bold and the best autoencoder underlined (ties all marked). The published Table III
is a separate table with its own columns: the paper measured MagnaTagATune, Beatport and TinySOL, which are
not the datasets of a default-suite run, so no published number is put in a measured column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.experiments.table3.metrics import PROBE_METRICS
from benchmarks.rendering.common import PAPER_FILE, load_paper_tables
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text, mark_best
from benchmarks.store import read_result

PAPER_COLUMNS = {
    "mtat_auc_roc": ("MTAT", "AUC-ROC"),
    "mtat_auc_pr": ("MTAT", "AUC-PR"),
    "beatport_micro_acc": ("Beatport key", "micro"),
    "beatport_macro_acc": ("Beatport key", "macro"),
    "tinysol_pitch_micro_f1": ("TinySOL pitch", "F1 micro"),
    "tinysol_pitch_macro_f1": ("TinySOL pitch", "F1 macro"),
    "tinysol_instr_micro_f1": ("TinySOL instr.", "F1 micro"),
    "tinysol_instr_macro_f1": ("TinySOL instr.", "F1 macro"),
}
DATASET_TITLES = {
    "suite-notes": "default suite notes (rendered SoundFont notes)",
    "suite-key": "default suite key (Bach chorales)",
    "suite-tags": "default suite tags",
    "mtat": "MagnaTagATune",
    "beatport": "Beatport EDM key",
    "tinysol": "TinySOL",
}
DIGITS = 1  # percent with one decimal, as the paper


def columns(result: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(task, metric) pairs in table order."""
    return [(t, m) for t in result["tasks"] for m in t["metrics"]]


def _mark(rows: list[dict[str, Any]], higher: list[bool], digits: int | None) -> None:
    for j, up in enumerate(higher):
        mark_best(
            [r["cells"][j] for r in rows],
            [r["cells"][j] for r in rows if r["kind"] == "autoencoder"],
            up,
            digits,
        )


def _measured(result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows {label, kind, cells: [Cell], runs: [n]} with best values marked, and footnotes."""
    cols = columns(result)
    notes: list[str] = []
    rows = []
    for m in result["models"]:
        cells, runs = [], []
        for task, metric in cols:
            agg = (m["results"].get(task["name"]) or {}).get(metric) or {}
            if agg.get("mean") is None:
                why = f"{m['label']} / {task['name']}: no runs"
                if why not in notes:
                    notes.append(why)
                cells.append(Cell(note=notes.index(why) + 1))
                runs.append("")
            else:
                cells.append(Cell(100 * agg["mean"], std=100 * (agg.get("std") or 0.0)))
                runs.append(agg["n"])
        label = m["label"] + (" (random weights)" if m["provenance"].get("pretrained") is False else "")
        rows.append({"label": label, "kind": m["kind"], "cells": cells, "runs": runs})
    _mark(rows, [PROBE_METRICS[metric].higher_is_better for _, metric in cols], DIGITS)
    return rows, notes


def _published(paper: dict[str, Any] | None) -> tuple[list[str], list[dict[str, Any]]]:
    if not paper or "table3" not in paper:
        return [], []
    t = paper["table3"]
    cols = list(t["columns"])
    rows = [
        {
            "label": r["model"],
            "kind": r.get("kind", "autoencoder"),
            "cells": [Cell(float(v)) if v is not None else Cell(missing="–") for v in r["values"]],
        }
        for r in t["rows"]
    ]
    _mark(rows, [True] * len(cols), None)  # every published column is a score (higher is better)
    return cols, rows


def caption(result: dict[str, Any]) -> str:
    tasks = "; ".join(
        f"{t['title']}: {DATASET_TITLES.get(t['dataset'], t['dataset'])}, label '{t['label']}', {t['items']} items, "
        + (f"folds {t['folds']}" if t.get("folds") else "given train/valid/test split")
        for t in result["tasks"]
    )
    parts = [
        f"Table III (downstream probing), measured (config '{result['config_name']}'): {tasks}.",
        f"mir_ref protocol: time-averaged embeddings, MLP [256, 128], Adam 1e-3, L2 1e-5, batch 1083, early "
        f"stopping on validation loss (patience 10, ≤100 epochs), every test item scored. Values: mean ± std "
        f"(ddof 1) in % over seeds {result['seeds']}"
        + (" and folds" if any(t.get("folds") for t in result["tasks"]) else "")
        + ".",
        "Bold: best per column; underlined: best autoencoder.",
    ]
    weights = [f"{m['label']}: {m['provenance'].get('weights') or 'n/a'}" for m in result["models"]]
    if weights:
        parts.append("Weights: " + "; ".join(weights) + ".")
    for label, why in (result.get("skipped_models") or {}).items():
        parts.append(f"Not run: {label} ({why}).")
    for name, why in (result.get("skipped_tasks") or {}).items():
        parts.append(f"Task not run: {name} ({why}).")
    return " ".join(parts)


def _block(rows: list[dict[str, Any]]) -> Block:
    return Block(
        None,
        [[r["label"], *[cell_text(c, DIGITS, False) for c in r["cells"]]] for r in rows],
        [[tex_escape(r["label"]), *[cell_text(c, DIGITS, True) for c in r["cells"]]] for r in rows],
    )


CSV_HEADER = [
    "block",
    "model",
    "kind",
    "task",
    "dataset",
    "metric",
    "mean_pct",
    "std_pct",
    "n_runs",
    "status",
]


def _measured_table(result: dict[str, Any], rows: list[dict[str, Any]], notes: list[str]) -> Table:
    """The measured rows: one column per (task, metric), footnotes for the cells without runs."""
    cols = columns(result)
    titles = [f"{t['title']} {PROBE_METRICS[m].title}" for t, m in cols]
    return Table(
        caption(result),
        f"tab:table3-{result['config_name']}",
        ["Model", *[f"{title} {PROBE_METRICS[m].arrow}" for title, (_, m) in zip(titles, cols)]],
        ["Model", *[tex_escape(title) for title in titles]],
        [_block(rows)],
        [f"n/c^{i}: not computed — {n}" for i, n in enumerate(notes, 1)],
        [f"$^{i}$not computed: {tex_escape(n)}" for i, n in enumerate(notes, 1)],
        wide=True,
        empty_row="(no model could be run)",
    )


def _measured_csv(result: dict[str, Any], rows: list[dict[str, Any]], notes: list[str]) -> list[list[Any]]:
    """One CSV row per measured cell: mean and std in percent, the number of runs, and why a cell is empty."""
    out: list[list[Any]] = []
    for r in rows:
        for (t, m), c, n in zip(columns(result), r["cells"], r["runs"]):
            status = "ok" if c.value is not None else f"not computed: {notes[c.note - 1]}"
            out.append(
                [
                    "measured",
                    r["label"],
                    r["kind"],
                    t["name"],
                    t["dataset"],
                    m,
                    "" if c.value is None else f"{c.value:.4f}",
                    "" if c.value is None else f"{c.std:.4f}",
                    n,
                    status,
                ]
            )
    return out


def _published_table(paper: dict[str, Any], pcols: list[str], prows: list[dict[str, Any]]) -> Table:
    """The paper's Table III on its own datasets, kept apart from the measured columns."""
    heads = [" ".join(PAPER_COLUMNS.get(c, (c, ""))).strip() for c in pcols]
    note = paper["table3"].get("note")
    return Table(
        f"Published Table III ({paper['source']}; MTAT, Beatport, TinySOL; % ; not comparable with the measured "
        "rows above)",
        "tab:table3-paper",
        ["Model", *heads],
        ["Model", *[tex_escape(h) for h in heads]],
        [_block(prows)],
        ["", f"Note: {note}"] if note else [],
        wide=True,
        tex_caption=f"Published Table III ({paper['source']}), MTAT/Beatport/TinySOL, %.",
    )


def _published_csv(pcols: list[str], prows: list[dict[str, Any]]) -> list[list[Any]]:
    """One CSV row per published cell ("not reported" where the paper gives none)."""
    return [
        [
            "paper",
            r["label"],
            r["kind"],
            col,
            "",
            col,
            "" if c.value is None else c.value,
            "",
            "",
            "published" if c.value is not None else "not reported",
        ]
        for r in prows
        for col, c in zip(pcols, r["cells"])
    ]


def table_file(result: dict[str, Any], paper: dict[str, Any] | None) -> TableFile:
    """The measured Table III, and the published one after it when `paper` has it."""
    rows, notes = _measured(result)
    tables = [_measured_table(result, rows, notes)]
    csv_rows = _measured_csv(result, rows, notes)
    pcols, prows = _published(paper)
    if pcols:
        tables.append(_published_table(paper, pcols, prows))
        csv_rows += _published_csv(pcols, prows)
    return TableFile(f"table3_{result['config_name']}", tables, CSV_HEADER, csv_rows)


def render(
    result_file: str | Path, output_dir: str | Path, paper_file: Path | None = PAPER_FILE
) -> list[Path]:
    """Write `<output_dir>/tables/table3_<config>.{md,tex,csv}`; returns the paths written."""
    result = read_result(result_file)
    return table_file(result, load_paper_tables(paper_file)).write(Path(output_dir) / "tables")
