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


def table_file(
    result: dict[str, Any], result_file: str | Path | None = None, comparisons: list[Comparison] | None = None
) -> TableFile:
    """The seams table; the p column needs the per-clip rows next to `result_file` ("n/a" without them)."""
    if comparisons is None:
        comparisons = seams_comparisons(result, result_file)
    by = {c.a: c for c in comparisons}
    blocks, csv_rows = [], []
    for m in result["models"]:
        md, tex = [], []
        for mode, stats in m["modes"].items():
            c = by.get(f"{m['label']} | {mode} | boundary")
            md.append([mode, *[_ci_text(stats[p]) for p in PARTS], _p_cell(c, False), str(stats["n_clips"])])
            tex.append(
                [
                    mode,
                    *[_ci_text(stats[p], latex=True) for p in PARTS],
                    _p_cell(c, True),
                    str(stats["n_clips"]),
                ]
            )
            csv_rows.append(
                [
                    m["label"],
                    mode,
                    str(bool(m.get("random_weights"))).lower(),
                    m["sigma_cond"],
                    *[
                        x
                        for p in PARTS
                        for x in (
                            csv_num(stats[p]["value"]),
                            csv_num(stats[p]["ci"][0] if stats[p]["ci"] else None),
                            csv_num(stats[p]["ci"][1] if stats[p]["ci"] else None),
                        )
                    ],
                    stats["n_clips"],
                ]
            )
        blocks.append(
            Block(
                random_label(
                    f"{m['label']} (sigma_cond = {m['sigma_cond']:g}, chunks of {m['chunk_seconds']:.3f} s)",
                    m.get("random_weights", False),
                ),
                md,
                tex,
            )
        )
    ds = result["dataset"]
    width = result["settings"]["boundary_frames"]
    caption = " ".join(
        [
            "Chunk seams (beyond the paper): error at chunk boundaries vs inside chunks, autoregressive two-step "
            "decoding vs every chunk decoded independently vs parallel decoding (all chunks at once, then each "
            "with its left neighbour).",
            f"Measured on {dataset_title(ds['name'])}: {ds['clips']} clips (config '{result['config_name']}').",
            f"Error: {result['measure']}; lower is better; boundary: the {width} frames each side of a chunk "
            f"boundary; difference: paired per-clip boundary − inside; [{ci_level_pct(result)}% bootstrap CI over clips].",
            "p: Holm-adjusted over the rows of this table (n/a: the per-clip rows are not there).",
            "{marks}",
            *(
                [f"Rows marked '{RANDOM_LABEL}' come from untrained models (pipeline check only)."]
                if result.get("random_weights")
                else []
            ),
            *[f"Not run: {k} ({v})." for k, v in (result.get("skipped_models") or {}).items()],
        ]
    )
    heads = ["Decoding", "LSD boundary (dB) ↓", "LSD inside (dB) ↓", "boundary − inside (dB)", "p", "clips"]
    header = ["model", "decoding", "random_weights", "sigma_cond"]
    for p in PARTS:
        header += [p, f"{p}_ci_low", f"{p}_ci_high"]
    table = Table(
        caption.replace("{marks}", mark_sentence(markdown=True)),
        f"tab:seams-{result['config_name']}",
        heads,
        [tex_escape(h) for h in heads],
        blocks,
        tex_caption=caption.replace("{marks}", mark_sentence(markdown=False)),
    )
    return TableFile(f"seams_{result['config_name']}", [table], header + ["clips"], csv_rows)


def render(result_file: str | Path, output_dir: str | Path) -> list[Path]:
    """Write `<output_dir>/tables/seams_<config>.{md,tex,csv}`; returns the paths written."""
    result = read_result(result_file)
    out = Path(output_dir) / "tables"
    comparisons = seams_comparisons(result, result_file)
    tables = table_file(result, result_file, comparisons)
    return tables.write(out) + [write_csv(out / DIFFERENCES_DIR / f"{tables.stem}.csv", "seams", comparisons)]
