"""Table I (summary embeddings vs ordered latents, FAD columns) from a result file, beside the published rows,
with a block of difference rows summary − ordered per metric (interval, p; `rendering.differences`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.metrics import METRICS
from benchmarks.metrics.paired import Comparison
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
from benchmarks.rendering.comparisons import (
    DIFFERENCES_DIR,
    comparison_text,
    mark_sentence,
    reference_frames,
    size_fields,
    size_sentence,
    size_suffix,
    tex,
    write_csv,
)
from benchmarks.rendering.differences import table1_comparisons
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text
from benchmarks.store import read_result

ROLE_TITLES = {"summary": "w/ summary emb.", "ordered": "w/o summary emb. (ordered latents)"}
KIND_TITLES = {"set": "set FAD", "per-song": "per-song FAD"}
DIGITS = {"fad-clap": 4}  # Table I of the paper gives FAD_clap to 4 digits


Row = tuple[str, "float | None", dict[str, Cell]]  # label, compression ratio, cells


def table_file(
    result: dict[str, Any],
    paper: dict[str, Any] | None,
    result_file: str | Path | None = None,
    comparisons: list[Comparison] | None = None,
) -> TableFile:
    """Table I with its "summary − ordered" difference rows (set FADs need the result file to find the embedding
    cache; the per-song FADs are in the result itself)."""
    if comparisons is None:
        comparisons = table1_comparisons(result, result_file)
    published_table = paper.get("table1") if paper is not None else None
    metrics = metric_columns(result["metrics"])
    if published_table is not None:  # the paper's columns always show, measured or not
        metrics += [m for m in published_table["metrics"] if m in METRICS and m not in metrics]
    notes: list[str] = []
    summaries: dict[str, dict[str, Any]] = {}  # row label → metric → summary (measured rows)
    blocks_rows: list[tuple[str, str, list[Row]]] = [
        ("measured", "Measured (this run)", _measured_rows(result, metrics, notes, summaries))]
    if published_table is not None:
        blocks_rows.append(("paper", f"Published ({paper['dataset']}, paper)", _published_rows(published_table, metrics)))
    blocks, csv_rows = [], []
    for block, title, rows in blocks_rows:
        mark_metric_columns([cells for _, _, cells in rows], ["autoencoder"] * len(rows), metrics)
        blocks.append(_block(title, rows, metrics, summaries))
        if block == "measured" and comparisons:
            blocks.append(difference_block(result, comparisons, metrics, notes))
        for label, ratio, cells in rows:
            sizes = [x for m in metrics for x in size_fields(summaries.get(label, {}).get(m))]
            csv_rows.append([block, label, "" if ratio is None else f"{ratio:.6g}",
                             *csv_metric_values(cells, metrics), *sizes])
    caption = _caption(result, paper, published_table, bool(comparisons))
    footer = footnotes(notes) + ["– : not reported in the paper."]
    md_heads, tex_heads = metric_heads(metrics)
    table = Table(
        caption.replace("{marks}", mark_sentence(markdown=True)),
        f"tab:table1-{result['config_name']}",
        ["Model", "Compression", *md_heads],
        ["Model", "Compression", *tex_heads],
        blocks,
        [""] + footer,
        [tex_escape(f) for f in footer],
        tex_caption=caption.replace("{marks}", mark_sentence(markdown=False)),
    )
    sizes_header = [f"{m}_{x}" for m in metrics for x in ("clips", "frames")]
    return TableFile(
        f"table1_{result['config_name']}",
        [table],
        ["block", "model", "compression_ratio", *csv_metric_header(metrics), *sizes_header],
        csv_rows,
    )


def _measured_rows(result, metrics, notes, summaries) -> list[Row]:
    rows = []
    for p in result["points"]:
        label = random_label(
            f"{ROLE_TITLES.get(p.get('role'), p['label'])}: {p['label']}", p.get("random_weights", False)
        )
        summaries[label] = {m: p["metrics"].get(m) for m in metrics}
        rows.append((label, p.get("compression_ratio"), {m: summary_cell(p["metrics"].get(m), m, notes) for m in metrics}))
    return rows


def _published_rows(published_table, metrics) -> list[Row]:
    return [
        (p["model"], None, {m: Cell(float(p[m])) if p.get(m) is not None else Cell(missing="–") for m in metrics})
        for p in published_table["rows"]
    ]


def _block(title: str, rows: list[Row], metrics: list[str], summaries) -> Block:
    """One block of rows in Markdown and LaTeX, each cell with its clip/frame counts."""
    digits = {m: DIGITS.get(m, METRICS[m].digits) for m in metrics}

    def line(label, ratio, cells, latex: bool) -> list[str]:
        return [tex_escape(label) if latex else label, compression_text(ratio),
                *[cell_text(cells[m], digits[m], latex) + size_suffix(summaries.get(label, {}).get(m), latex)
                  for m in metrics]]

    return Block(title, [line(*r, latex=False) for r in rows], [line(*r, latex=True) for r in rows])


def _caption(result, paper, published_table, compared: bool) -> str:
    return " ".join(
        [
            "Table I (ablation): summary embeddings vs ordered latents at the same compression.",
            *common_caption(result),
            f"FADs: one distance between the reference and reconstruction sets [{ci_level_pct(result)}% bootstrap CI "
            "over clips]; bold: best value, underlined: best autoencoder, per block.",
            *_size_sentences(result),
            *([DIFFERENCE_SENTENCE, "{marks}"] if compared else []),
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


def _size_sentences(result: dict[str, Any]) -> list[str]:
    summaries = [s for p in result["points"] for s in p["metrics"].values()]
    frames = reference_frames(summaries)
    return [size_sentence(result["metrics"]) + f" Reference set: {frames} frames."] if frames else []


DIFFERENCE_SENTENCE = (
    "Difference rows: summary − ordered (below 0: the summary model has the lower, better FAD) [interval] and p; "
    "set: the two set FADs, per-song: the mean per-song FAD (each clip's Gaussian against the whole reference "
    "set), paired by clip."
)


def difference_block(
    result: dict[str, Any], comparisons: list[Comparison], metrics: list[str], notes: list[str]
) -> Block:
    """Rows "summary − ordered" (set FAD; per-song FAD where the result has it): a cell per metric column."""
    kinds = list(dict.fromkeys(c.kind for c in comparisons))
    by = {(c.metric, c.kind): c for c in comparisons}
    rows: dict[bool, list[list[str]]] = {False: [], True: []}
    for kind in kinds:
        for latex in (False, True):
            cells = []
            for m in metrics:
                c = by.get((m, kind))
                digits = DIGITS.get(m, METRICS[m].digits)
                cells.append(_difference_cell(c, m, digits, latex, notes, result))
            label = f"summary − ordered ({KIND_TITLES.get(kind, kind)})"
            rows[latex].append([tex(label) if latex else label, "", *cells])
    return Block("Difference (this run)", rows[False], rows[True])


def _difference_cell(
    c: Comparison | None, metric: str, digits: int, latex: bool, notes: list[str], result: dict[str, Any]
) -> str:
    """The comparison's text; a metric not computed for the models reuses the column's footnote."""
    if c is None:
        return "n/a"  # no per-song values for this metric
    if c.ok:
        return comparison_text(c, digits, latex, notes)
    summary = next((p["metrics"].get(metric) for p in result["points"] if p["metrics"].get(metric)), None)
    if summary and summary.get("status") != "ok" and summary.get("reason") == c.reason:
        text = f"{metric}: {c.reason}"  # the same footnote as the column's n/c cells
    else:
        main, _, detail = (c.reason or "unavailable").partition(" — ")
        text = f"{metric} {c.kind} difference ({main})" + (f": {detail}" if detail else "")
    if text not in notes:
        notes.append(text)
    k = notes.index(text) + 1
    return f"n/c$^{{{k}}}$" if latex else f"n/c^{k}"


def render(
    result_file: str | Path, output_dir: str | Path, paper_file: Path | None = PAPER_FILE
) -> list[Path]:
    """Write `<output_dir>/tables/table1_<config>.{md,tex,csv}`; returns the paths written."""
    result = read_result(result_file)
    out = Path(output_dir) / "tables"
    comparisons = table1_comparisons(result, result_file)
    tables = table_file(result, load_paper_tables(paper_file), result_file, comparisons)
    paths = tables.write(out)
    return paths + [write_csv(out / DIFFERENCES_DIR / f"{tables.stem}.csv", "table1", comparisons)]
