"""Table II from a result file, beside the paper's published rows.

Conventions (as in the paper): per metric column, the best value is bold and the best learned autoencoder
is underlined. Bold is chosen among the compared rows (the identity reference is excluded: it trivially wins
every pair-wise metric); underline only among rows of kind "autoencoder". The measured block and the
published block are ranked separately: they come from different datasets and are never compared.
Metrics that were not computed show as "n/c" with the reason in a footnote; a metric the paper does not
report shows as "–". Rows with random weights are never rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.metrics import METRICS, SET_METRICS
from benchmarks.metrics.paired import Comparison
from benchmarks.rendering.common import (
    PAPER_FILE,
    ci_level_pct,
    compression_text,
    dataset_title,
    load_paper_tables,
    mark_metric_columns,
    metric_columns,
    metric_heads,
    summary_cell,
    weights_text,
)
from benchmarks.rendering.comparisons import (
    DIFFERENCES_DIR,
    comparison_text,
    dash,
    differences_file,
    mark_sentence,
    notes_lines,
    reference_frames,
    size_fields,
    size_sentence,
    size_suffix,
    tex,
    write_differences,
)
from benchmarks.rendering.differences import table2_compare_to, table2_comparisons
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text
from benchmarks.store import read_result


@dataclass
class Row:
    block: str  # "measured" or "paper"
    label: str
    kind: str
    compression: float | None
    stereo: bool | None
    cells: dict[str, Cell] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)  # measured rows: metric → summary dict


def build_rows(
    result: dict[str, Any], paper: dict[str, Any] | None
) -> tuple[list[Row], list[str], list[str]]:
    """(rows, metric columns, footnotes) of Table II from a result dict and the published numbers."""
    metrics = metric_columns(result["metrics"])
    notes: list[str] = []
    measured: list[Row] = []
    for model in result["models"]:
        if not model.get("pretrained", False):
            continue  # random weights are never reported
        row = Row(
            "measured", model["label"], model["kind"], model.get("compression_ratio"), model.get("stereo")
        )
        row.cells = {
            m: summary_cell(model["metrics"].get(m), m, notes, absent="not in this result file")
            for m in metrics
        }
        row.summaries = {m: model["metrics"].get(m) for m in metrics}
        measured.append(row)
    mark_metric_columns([r.cells for r in measured], [r.kind for r in measured], metrics)
    published: list[Row] = []
    if paper is not None:
        for p in paper["table2"]["rows"]:
            row = Row(
                "paper", p["model"], p.get("kind", "autoencoder"), p.get("compression"), p.get("stereo")
            )
            row.cells = {m: Cell(float(p[m])) if p.get(m) is not None else Cell(missing="–") for m in metrics}
            published.append(row)
        mark_metric_columns([r.cells for r in published], [r.kind for r in published], metrics)
    return measured + published, metrics, notes


def _stereo(row: Row) -> str:
    return "–" if row.stereo is None else ("yes" if row.stereo else "no")


KAD_CAPTION = (
    "KAD: kernel audio distance (unbiased MMD² with a Gaussian RBF kernel, ×100, on the FAD embedder's "
    "frames); bandwidth = median pairwise distance of the reference set's embeddings, so every row of a "
    "column is scored with the same kernel (kadtk's code takes it from the evaluated set although its README "
    "says reference); can be slightly negative for near-identical sets and is reported as is; CI from paired "
    "clip resamples with that bandwidth fixed."
)
MEL_CAPTION = (
    "Mel dist.: DAC's multi-scale mel distance at 44.1 kHz (mean over clips): L1 of log10 magnitude mel "
    "spectrograms, windows 32–2048 samples (hop 1/4) with 5, 10, 20, 40, 80, 160, 320 Slaney mel bands, "
    "clamp 1e-5, summed over the 7 scales (DAC's training/evaluation configuration)."
)
STFT_CAPTION = (
    "STFT dist.: DAC's multi-scale STFT distance at 44.1 kHz (mean over clips): windows 2048 and 512 (hop "
    "1/4), L1 of log10 power plus L1 of magnitude (unnormalised STFT), summed over scales."
)


def metric_sentences(metrics: list[str]) -> list[str]:
    """Caption sentences that define the KAD and spectral-distance columns a result has (none otherwise)."""
    out = []
    if any(m.startswith("kad-") for m in metrics):
        out.append(KAD_CAPTION)
    if "mel-distance" in metrics:
        out.append(MEL_CAPTION)
    if "stft-distance" in metrics:
        out.append(STFT_CAPTION)
    return out


def size_sentences(result: dict[str, Any]) -> list[str]:
    """The (n/F) convention and the reference set's frames, when a FAD/KAD was computed."""
    frames = reference_frames([s for m in result["models"] for s in (m.get("metrics") or {}).values()])
    return [size_sentence(result["metrics"]) + f" Reference set: {frames} frames."] if frames else []


def _cell(r: Row, m: str, latex: bool) -> str:
    text = cell_text(r.cells[m], METRICS[m].digits, latex)
    return text + size_suffix(r.summaries.get(m), latex) if m in SET_METRICS else text


def caption(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    ds = result["dataset"]
    parts = [
        f"Table II (reconstruction), measured on {dataset_title(ds['name'])}: {ds['clips']} clips"
        + (f" of split '{ds['split']}'" if ds.get("split") else "")
        + f" (config '{result['config_name']}').",
        f"SI-SDR and ViSQOL: mean over clips; FADs: one distance between the reference and reconstruction sets; "
        f"[{ci_level_pct(result)}% bootstrap CI over clips].",
        *metric_sentences(result["metrics"]),
        *size_sentences(result),
    ]
    emb = result.get("embedders") or {}
    if emb:
        parts.append("Embedders: " + "; ".join(f"{m} = {ident}" for m, ident in emb.items()) + ".")
    weights = [
        f"{m['label']}: {weights_text(m['identity']['provenance'])}"
        for m in result["models"]
        if m.get("pretrained", False)
    ]
    if weights:
        parts.append("Weights: " + "; ".join(weights) + ".")
    parts.append(
        "Bold: best measured value per column (identity reference excluded); underlined: best learned "
        "autoencoder"
        + ("" if any(m["kind"] == "autoencoder" for m in result["models"]) else " (none measured here)")
        + "."
    )
    if paper is not None:
        parts.append(
            f"Published rows: copied from {paper['source']}, measured on {paper['dataset']} by its "
            "authors, ranked separately; not comparable with the measured rows."
        )
    for label, why in (result.get("skipped_models") or {}).items():
        parts.append(f"Not run: {label} ({why}).")
    return " ".join(parts)


def table_file(result: dict[str, Any], paper: dict[str, Any] | None) -> TableFile:
    rows, metrics, notes = build_rows(result, paper)
    md_heads, tex_heads = metric_heads(metrics)
    blocks: list[Block] = []
    for block in ("measured", "paper"):
        members = [r for r in rows if r.block == block]
        if not members:
            continue
        title = "Measured (this run)" if block == "measured" else f"Published ({paper['dataset']}, paper)"
        md = [
            [
                r.label,
                compression_text(r.compression),
                _stereo(r),
                *[_cell(r, m, False) for m in metrics],
            ]
            for r in members
        ]
        tex = [
            [
                tex_escape(r.label),
                compression_text(r.compression),
                _stereo(r),
                *[_cell(r, m, True) for m in metrics],
            ]
            for r in members
        ]
        blocks.append(Block(title, md, tex))
    md_footer = [""] + [f"n/c^{i}: not computed — {text}" for i, text in enumerate(notes, 1)] if notes else []
    table = Table(
        caption(result, paper),
        f"tab:table2-{result['config_name']}",
        ["Model", "Compression", "Stereo", *md_heads],
        ["Model", "Compression", "Stereo", *tex_heads],
        blocks,
        md_footer + ["", "– : not reported in the paper."],
        [f"$^{i}$not computed: {tex_escape(t)}" for i, t in enumerate(notes, 1)],
        wide=True,
    )
    header = ["block", "model", "kind", "compression_ratio", "stereo"]
    for m in metrics:
        header += [m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_status"]
    sizes = [m for m in metrics if m in SET_METRICS]
    header += [f"{m}_{x}" for m in sizes for x in ("clips", "frames")]
    csv_rows = []
    for r in rows:
        line: list[Any] = [
            r.block,
            r.label,
            r.kind,
            "" if r.compression is None else f"{r.compression:.6g}",
            "" if r.stereo is None else str(r.stereo).lower(),
        ]
        for m in metrics:
            c = r.cells[m]
            status = (
                "ok"
                if c.value is not None
                else (f"not computed: {notes[c.note - 1]}" if c.note else "not reported")
            )
            line += [
                "" if c.value is None else repr(round(c.value, 6)),
                "" if c.ci is None else repr(round(c.ci[0], 6)),
                "" if c.ci is None else repr(round(c.ci[1], 6)),
                status,
            ]
        line += [x for m in sizes for x in size_fields(r.summaries.get(m))]
        csv_rows.append(line)
    return TableFile(f"table2_{result['config_name']}", [table], header, csv_rows)


KIND_SUFFIX = {"per-clip": "", "set": " (set)", "per-song": " (per-song)"}


def difference_table(
    result: dict[str, Any], comparisons: list[Comparison], refs: dict[tuple[str, str], str]
) -> Table:
    """One row per compared model, one column per (metric, kind): row − reference [CI] p, "ref." for the
    reference row of that column."""
    notes: list[str] = []
    columns = list(refs)
    by = {(c.a, c.metric, c.kind): c for c in comparisons}
    labels = list(dict.fromkeys([c.a for c in comparisons] + list(refs.values())))
    order = [m["label"] for m in result["models"]]
    labels.sort(key=order.index)
    md, tex_rows = [], []
    for label in labels:
        for latex, out in ((False, md), (True, tex_rows)):
            cells = []
            for metric, kind in columns:
                c = by.get((label, metric, kind))
                if refs[(metric, kind)] == label:
                    cells.append("ref.")
                else:
                    cells.append(
                        comparison_text(c, METRICS[metric].digits, latex, notes) if c else dash(latex)
                    )
            out.append([tex_escape(label) if latex else label, *cells])
    compare_to = table2_compare_to(result)
    reference = (
        f"the row '{compare_to}'"
        if compare_to
        else "per column, the best measured row (bold in Table II; identity reference excluded)"
    )
    caption = (
        f"Table II, differences to a reference row (config '{result['config_name']}'): each cell is row − "
        f"reference [{ci_level_pct(result)}% interval] and p; reference ('ref.'): {reference} "
        "(`table2.compare_to` names one row for every column); Holm over the rows of each column; the "
        "identity reference is not compared. {marks} Per-song FAD: the mean of each clip's FAD against the "
        "whole reference set, compared clip by clip."
    )
    heads = [f"{METRICS[m].title} {METRICS[m].arrow}{KIND_SUFFIX[k]}" for m, k in columns]
    foot = notes_lines(notes)
    return Table(
        caption.replace("{marks}", mark_sentence(markdown=True)),
        f"tab:table2-diff-{result['config_name']}",
        ["Model", *heads],
        ["Model", *[tex(h) for h in heads]],
        [Block(None, md, tex_rows)],
        [""] + foot if foot else [],
        notes_lines(notes, latex=True),
        wide=True,
        tex_caption=caption.replace("{marks}", mark_sentence(markdown=False)),
    )


def render(
    result_file: str | Path, output_dir: str | Path, paper_file: Path | None = PAPER_FILE
) -> list[Path]:
    """Write `<output_dir>/tables/table2_<config>.{md,tex,csv}`; returns the paths written."""
    result = read_result(result_file)
    out = Path(output_dir) / "tables"
    differences = differences_table_file(result, result_file)
    return table_file(result, load_paper_tables(paper_file)).write(out) + write_differences(
        out / DIFFERENCES_DIR, differences
    )


def differences_table_file(result: dict[str, Any], result_file: str | Path | None = None) -> TableFile:
    """`differences/table2_<config>.{md,tex,csv}`: every measured row − the reference row of each column."""
    comparisons, refs = table2_comparisons(result, result_file, table2_compare_to(result))
    tables = [difference_table(result, comparisons, refs)] if comparisons else []
    return differences_file(f"table2_{result['config_name']}", "table2", tables, comparisons)
