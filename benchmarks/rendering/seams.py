"""The chunk-seams table: boundary vs inside log-spectral distance per model and decoding mode, with the
p-value of the paired boundary − inside difference (sign-flip permutation over clips, Holm over the rows;
`rendering.differences`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.metrics.paired import Comparison
from benchmarks.rendering.common import RANDOM_LABEL, ci_level_pct, dataset_title, random_label
from benchmarks.rendering.comparisons import DIFFERENCES_DIR, dash, mark_sentence, p_text, write_csv
from benchmarks.rendering.differences import seams_comparisons
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text, csv_num
from benchmarks.store import read_result

PARTS = ("boundary", "inside", "difference")


def _ci_text(stat: dict[str, Any], latex: bool = False, digits: int = 2) -> str:
    if stat.get("value") is None:
        return "n/a"
    return cell_text(Cell(stat["value"], tuple(stat["ci"]) if stat.get("ci") else None), digits, latex)


def _p_cell(c: Comparison | None, latex: bool) -> str:
    if c is None or not c.ok:
        return "n/a" if c is not None else dash(latex)
    return p_text(c, latex)


HEADS = ["Decoding", "LSD boundary (dB) ↓", "LSD inside (dB) ↓", "boundary − inside (dB)", "p", "clips"]
CSV_HEADER = [
    "model",
    "decoding",
    "random_weights",
    "sigma_cond",
    *[x for p in PARTS for x in (p, f"{p}_ci_low", f"{p}_ci_high")],
    "clips",
]


def _shown_row(mode: str, stats: dict[str, Any], c: Comparison | None, latex: bool) -> list[str]:
    """One decoding mode's row: each part with its interval, the difference's p, the clip count."""
    return [mode, *[_ci_text(stats[p], latex=latex) for p in PARTS], _p_cell(c, latex), str(stats["n_clips"])]


def _csv_row(m: dict[str, Any], mode: str, stats: dict[str, Any]) -> list[Any]:
    """One decoding mode's CSV row: each part's value and interval bounds."""
    parts = [
        x
        for p in PARTS
        for x in (
            csv_num(stats[p]["value"]),
            csv_num(stats[p]["ci"][0] if stats[p]["ci"] else None),
            csv_num(stats[p]["ci"][1] if stats[p]["ci"] else None),
        )
    ]
    return [
        m["label"],
        mode,
        str(bool(m.get("random_weights"))).lower(),
        m["sigma_cond"],
        *parts,
        stats["n_clips"],
    ]


def _model_block(m: dict[str, Any], by: dict[str, Comparison]) -> Block:
    """One model's rows (a decoding mode each) under a title with its σ_cond and chunk length."""
    rows = [(mode, stats, by.get(f"{m['label']} | {mode} | boundary")) for mode, stats in m["modes"].items()]
    return Block(
        random_label(
            f"{m['label']} (sigma_cond = {m['sigma_cond']:g}, chunks of {m['chunk_seconds']:.3f} s)",
            m.get("random_weights", False),
        ),
        [_shown_row(mode, stats, c, False) for mode, stats, c in rows],
        [_shown_row(mode, stats, c, True) for mode, stats, c in rows],
    )


def caption(result: dict[str, Any]) -> str:
    """The caption, with "{marks}" where the p-value marks are explained (in Markdown or LaTeX words)."""
    ds = result["dataset"]
    width = result["settings"]["boundary_frames"]
    parts = [
        "Chunk seams (beyond the paper): error at chunk boundaries vs inside chunks, autoregressive two-step "
        "decoding vs every chunk decoded independently vs parallel decoding (all chunks at once, then each "
        "with its left neighbour).",
        f"Measured on {dataset_title(ds['name'])}: {ds['clips']} clips (config '{result['config_name']}').",
        f"Error: {result['measure']}; lower is better; boundary: the {width} frames each side of a chunk "
        f"boundary; difference: paired per-clip boundary − inside; [{ci_level_pct(result)}% bootstrap CI over clips].",
        "p: Holm-adjusted over the rows of this table (n/a: the per-clip rows are not there).",
        "{marks}",
    ]
    if result.get("random_weights"):
        parts.append(f"Rows marked '{RANDOM_LABEL}' come from untrained models (pipeline check only).")
    parts += [f"Not run: {k} ({v})." for k, v in (result.get("skipped_models") or {}).items()]
    return " ".join(parts)


def table_file(
    result: dict[str, Any], result_file: str | Path | None = None, comparisons: list[Comparison] | None = None
) -> TableFile:
    """The seams table; the p column needs the per-clip rows next to `result_file` ("n/a" without them)."""
    if comparisons is None:
        comparisons = seams_comparisons(result, result_file)
    by = {c.a: c for c in comparisons}
    text = caption(result)
    table = Table(
        text.replace("{marks}", mark_sentence(markdown=True)),
        f"tab:seams-{result['config_name']}",
        HEADS,
        [tex_escape(h) for h in HEADS],
        [_model_block(m, by) for m in result["models"]],
        tex_caption=text.replace("{marks}", mark_sentence(markdown=False)),
    )
    csv_rows = [_csv_row(m, mode, stats) for m in result["models"] for mode, stats in m["modes"].items()]
    return TableFile(f"seams_{result['config_name']}", [table], CSV_HEADER, csv_rows)


def render(result_file: str | Path, output_dir: str | Path) -> list[Path]:
    """Write `<output_dir>/tables/seams_<config>.{md,tex,csv}`; returns the paths written."""
    result = read_result(result_file)
    out = Path(output_dir) / "tables"
    comparisons = seams_comparisons(result, result_file)
    tables = table_file(result, result_file, comparisons)
    return tables.write(out) + [write_csv(out / DIFFERENCES_DIR / f"{tables.stem}.csv", "seams", comparisons)]
