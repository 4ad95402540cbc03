"""The report's Table II cells and what a reader needs to read them: the reason for every empty cell (a
numbered footnote) and a one-line legend of units, intervals and FAD's sample-size caveat.

The reasons, their numbering and the (n/F) convention come from the code that renders
results/tables/table2_<config>.md (benchmarks.rendering), so the page and the Markdown table agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks import store
from benchmarks.metrics import METRICS, SET_METRICS
from benchmarks.rendering.common import ci_level_pct, summary_cell
from benchmarks.rendering.comparisons import size_suffix
from benchmarks.rendering.table2 import size_sentences

ABSENT = "not in this result file"  # as Table II's Markdown says of a metric an entry lacks
UNITS = {"sisdr": "in dB", "visqol": "as MOS 1–5"}  # per-clip metrics whose scale a reader must be told


@dataclass(frozen=True)
class CellView:
    text: str  # "value [low, high]", "value [low, high] (n/F)" for a FAD, or "n/c"
    note: int | None = None  # the footnote (1-based) that says why an "n/c" cell is empty


def _value_text(value: float, ci: Any, digits: int) -> str:
    text = f"{value:.{digits}f}"
    if ci:
        text += f" [{store.read_number(ci[0]):.{digits}f}, {store.read_number(ci[1]):.{digits}f}]"
    return text


def metric_cells(entry: dict[str, Any], metrics: list[str], notes: list[str]) -> dict[str, CellView]:
    """metric → cell of one Table II entry; each empty cell's reason is added to `notes` once (shared by
    the rows, numbered as in the Markdown table)."""
    cells = {}
    for m in metrics:
        summary = (entry.get("metrics") or {}).get(m)
        cell = summary_cell(summary, m, notes, absent=ABSENT)
        if cell.value is None:
            cells[m] = CellView("n/c", cell.note)
            continue
        text = _value_text(cell.value, (summary or {}).get("ci"), METRICS[m].digits)
        cells[m] = CellView(text + (size_suffix(summary, latex=False) if m in SET_METRICS else ""))
    return cells


def footnote_lines(notes: list[str]) -> list[str]:
    """The reasons of the numbered empty cells, worded as Table II's Markdown footnotes."""
    return [f"not computed — {text}" for text in notes]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def legend(result: dict[str, Any], metrics: list[str]) -> str:
    """One line: each column's unit and direction, what the brackets are, and FAD's (n/F) caveat."""
    per_clip = [m for m in metrics if METRICS[m].per_clip]
    sets = [m for m in metrics if m in SET_METRICS]
    parts = []
    if per_clip:
        titles = [f"{METRICS[m].title} {UNITS[m]}" if m in UNITS else METRICS[m].title for m in per_clip]
        parts.append(f"{_and(titles)}: means over clips")
    if sets:
        titles = [METRICS[m].title for m in sets]
        parts.append(
            f"{_and(titles)}: one distance between the reference and reconstruction sets, lower is better"
        )
    parts.append("↑/↓: higher/lower is better")
    parts.append(f"[low, high]: {ci_level_pct(result)}% bootstrap CI over clips")
    return " ".join(["; ".join(parts) + ".", *size_sentences(result)])
