"""The table model every table is rendered with: cells, the best-value rule, Markdown / LaTeX / CSV output.

A `TableFile` (one `<stem>.{md,tex,csv}` triple) holds one or more `Table`s (a caption, column heads and
blocks of rows, e.g. measured and published) and one CSV. Best values: per column, the best value of a pool
of rows is bold and the best of a second pool (the learned autoencoders) underlined, ties all marked,
"best" read from the metric's declared direction and judged at the precision shown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.rendering.latex import tex_escape
from m2l2.io import write_text_if_changed


@dataclass
class Cell:
    value: float | None = None
    ci: tuple[float, float] | None = None  # interval shown as [low, high]
    std: float | None = None  # spread shown as ± std
    note: int | None = None  # footnote number for "n/c"
    missing: str = "n/c"  # what to print without a value ("n/c" measured, "–" not reported)
    bold: bool = False
    underline: bool = False


def fmt(v: float, digits: int) -> str:
    """A number with `digits` decimals and a true minus sign; no "−0.000" for values that round to zero."""
    text = f"{v:.{digits}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def cell_text(c: Cell, digits: int, latex: bool) -> str:
    if c.value is None:
        if c.note is None:
            return c.missing if not latex else ("--" if c.missing == "–" else c.missing)
        return f"n/c$^{{{c.note}}}$" if latex else f"n/c^{c.note}"

    def num(v: float) -> str:
        return fmt(v, digits).replace("−", "$-$") if latex else fmt(v, digits)

    text = num(c.value)
    if c.bold:
        text = rf"\textbf{{{text}}}" if latex else f"**{text}**"
    if c.underline:
        text = rf"\underline{{{text}}}" if latex else f"<u>{text}</u>"
    if c.ci is not None:
        lo, hi = num(c.ci[0]), num(c.ci[1])
        text += rf" {{\scriptsize [{lo}, {hi}]}}" if latex else f" [{lo}, {hi}]"
    if c.std is not None:
        text += rf" {{\scriptsize$\pm${num(c.std)}}}" if latex else f" ± {num(c.std)}"
    return text


def best(cells: Sequence[Cell], higher_is_better: bool, digits: int | None) -> list[Cell]:
    """The cells holding the best value (all of them on a tie), compared at `digits` decimals (None: exact)."""
    vals = [(c.value if digits is None else round(c.value, digits), c) for c in cells if c.value is not None]
    if not vals:
        return []
    target = max(v for v, _ in vals) if higher_is_better else min(v for v, _ in vals)
    return [c for v, c in vals if v == target]


def mark_best(
    bold_pool: Sequence[Cell], underline_pool: Sequence[Cell], higher_is_better: bool, digits: int | None
) -> None:
    """Bold the best cell of `bold_pool` and underline the best of `underline_pool` (one column)."""
    for c in best(bold_pool, higher_is_better, digits):
        c.bold = True
    for c in best(underline_pool, higher_is_better, digits):
        c.underline = True


@dataclass
class Block:
    """Consecutive rows under an optional title (e.g. "Measured (this run)"), as Markdown and LaTeX cells."""

    title: str | None
    md: list[list[str]]
    tex: list[list[str]]


@dataclass
class Table:
    caption: str
    label: str  # LaTeX label
    heads: list[str]  # Markdown column titles
    tex_heads: list[str]
    blocks: list[Block]
    md_footer: list[str] = field(default_factory=list)  # Markdown lines after the rows, as given
    tex_notes: list[str] = field(default_factory=list)  # LaTeX footnotes under the tabular, joined by "; "
    wide: bool = False  # LaTeX table* (spans both columns)
    empty_row: str | None = None  # Markdown row shown when no block has rows
    tex_caption: str | None = None  # LaTeX caption when it differs from the Markdown one

    def markdown_lines(self) -> list[str]:
        n = len(self.heads)
        lines = [
            f"**{self.caption}**",
            "",
            "| " + " | ".join(self.heads) + " |",
            "|" + "|".join(["---"] + ["---:"] * (n - 1)) + "|",
        ]
        for b in self.blocks:
            if b.title:
                lines.append(f"| *{b.title}* |" + " |" * (n - 1))
            lines += ["| " + " | ".join(r) + " |" for r in b.md]
        if self.empty_row is not None and not any(b.md for b in self.blocks):
            lines.append(f"| {self.empty_row} |" + " |" * (n - 1))
        return lines + self.md_footer

    def latex_lines(self) -> list[str]:
        n = len(self.heads)
        env = "table*" if self.wide else "table"
        out = [
            rf"\begin{{{env}}}[t]",
            r"\centering",
            r"\caption{" + tex_escape(self.tex_caption or self.caption) + "}",
            r"\label{" + self.label + "}",
            r"\begin{tabular}{l" + "c" * (n - 1) + "}",
            r"\toprule",
            " & ".join(self.tex_heads) + r" \\",
            r"\midrule",
        ]
        for i, b in enumerate(self.blocks):
            if i:
                out.append(r"\midrule")
            if b.title:
                out.append(rf"\multicolumn{{{n}}}{{l}}{{\emph{{{tex_escape(b.title)}}}}} \\")
            out += [" & ".join(r) + r" \\" for r in b.tex]
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.tex_notes:
            out.append(r"\\[2pt]{\footnotesize " + "; ".join(self.tex_notes) + "}")
        out.append(rf"\end{{{env}}}")
        return out


@dataclass
class TableFile:
    """What one `<stem>.{md,tex,csv}` triple shows: its tables one after the other, and one CSV."""

    stem: str
    tables: list[Table]
    csv_header: list[str]
    csv_rows: list[list[Any]]

    def markdown(self) -> str:
        lines: list[str] = []
        for i, t in enumerate(self.tables):
            lines += ([""] if i else []) + t.markdown_lines()
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        lines = [r"% needs \usepackage{booktabs}"] + [line for t in self.tables for line in t.latex_lines()]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.csv_header)
        w.writerows(self.csv_rows)
        return buf.getvalue()

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the three files atomically, leaving unchanged files untouched; returns the paths."""
        paths = []
        for suffix, text in ((".md", self.markdown()), (".tex", self.latex()), (".csv", self.csv())):
            path = Path(out_dir) / f"{self.stem}{suffix}"
            write_text_if_changed(path, text)
            paths.append(path)
        return paths


def csv_num(v: float | None) -> str:
    return "" if v is None else repr(round(float(v), 6))
