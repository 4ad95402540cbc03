"""Table I (summary embeddings vs ordered latents, FAD columns) from a result file, beside the published rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.metrics import METRICS
from benchmarks.rendering.common import (
    PAPER_FILE,
    ci_level_pct,
    common_caption,
    compression_text,
    csv_metric_header,
    csv_metric_values,
    footnotes,
    load_paper_tables,
    mark_metric_columns,
    metric_columns,
    metric_heads,
    random_label,
    summary_cell,
)
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text
from benchmarks.store import read_result

ROLE_TITLES = {"summary": "w/ summary emb.", "ordered": "w/o summary emb. (ordered latents)"}
DIGITS = {"fad-clap": 4}  # Table I of the paper gives FAD_clap to 4 digits


def table_file(result: dict[str, Any], paper: dict[str, Any] | None) -> TableFile:
    published_table = paper.get("table1") if paper is not None else None
    metrics = metric_columns(result["metrics"])
    if published_table is not None:  # the paper's columns always show, measured or not
        metrics += [m for m in published_table["metrics"] if m in METRICS and m not in metrics]
    notes: list[str] = []
    blocks_rows: list[tuple[str, str, list[tuple[str, float | None, dict[str, Cell]]]]] = []
    measured = []
    for p in result["points"]:
        label = random_label(
            f"{ROLE_TITLES.get(p.get('role'), p['label'])}: {p['label']}", p.get("random_weights", False)
        )
        measured.append(
            (
                label,
                p.get("compression_ratio"),
                {m: summary_cell(p["metrics"].get(m), m, notes) for m in metrics},
            )
        )
    blocks_rows.append(("measured", "Measured (this run)", measured))
    if published_table is not None:
        published = [
            (
                p["model"],
                None,
                {m: Cell(float(p[m])) if p.get(m) is not None else Cell(missing="–") for m in metrics},
            )
            for p in published_table["rows"]
        ]
        blocks_rows.append(("paper", f"Published ({paper['dataset']}, paper)", published))
    blocks, csv_rows = [], []
    for block, title, rows in blocks_rows:
        mark_metric_columns([cells for _, _, cells in rows], ["autoencoder"] * len(rows), metrics)
        digits = {m: DIGITS.get(m, METRICS[m].digits) for m in metrics}
        blocks.append(
            Block(
                title,
                [
                    [label, compression_text(ratio), *[cell_text(c[m], digits[m], False) for m in metrics]]
                    for label, ratio, c in rows
                ],
                [
                    [
                        tex_escape(label),
                        compression_text(ratio),
                        *[cell_text(c[m], digits[m], True) for m in metrics],
                    ]
                    for label, ratio, c in rows
                ],
            )
        )
        for label, ratio, cells in rows:
            csv_rows.append(
                [block, label, "" if ratio is None else f"{ratio:.6g}", *csv_metric_values(cells, metrics)]
            )
    caption = " ".join(
        [
            "Table I (ablation): summary embeddings vs ordered latents at the same compression.",
            *common_caption(result),
            f"FADs: one distance between the reference and reconstruction sets [{ci_level_pct(result)}% bootstrap CI "
            "over clips]; bold: best value, underlined: best autoencoder, per block.",
            *(
                [
                    f"Published rows: copied from {paper['source']} ({published_table['caption']}), measured by its "
                    "authors; not comparable with the measured rows."
                ]
                if published_table is not None
                else []
            ),
        ]
    )
    footer = footnotes(notes) + ["– : not reported in the paper."]
    md_heads, tex_heads = metric_heads(metrics)
    table = Table(
        caption,
        f"tab:table1-{result['config_name']}",
        ["Model", "Compression", *md_heads],
        ["Model", "Compression", *tex_heads],
        blocks,
        [""] + footer,
        [tex_escape(f) for f in footer],
    )
    return TableFile(
        f"table1_{result['config_name']}",
        [table],
        ["block", "model", "compression_ratio", *csv_metric_header(metrics)],
        csv_rows,
    )


def render(
    result_file: str | Path, output_dir: str | Path, paper_file: Path | None = PAPER_FILE
) -> list[Path]:
    """Write `<output_dir>/tables/table1_<config>.{md,tex,csv}`; returns the paths written."""
    result = read_result(result_file)
    return table_file(result, load_paper_tables(paper_file)).write(Path(output_dir) / "tables")
