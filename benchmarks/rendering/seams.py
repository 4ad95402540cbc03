"""The chunk-seams table: boundary vs inside log-spectral distance per model and decoding mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.rendering.common import RANDOM_LABEL, ci_level_pct, dataset_title, random_label
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Cell, Table, TableFile, cell_text, csv_num
from benchmarks.store import read_result

PARTS = ("boundary", "inside", "difference")


def _ci_text(stat: dict[str, Any], latex: bool = False, digits: int = 2) -> str:
    if stat.get("value") is None:
        return "n/a"
    return cell_text(Cell(stat["value"], tuple(stat["ci"]) if stat.get("ci") else None), digits, latex)


def table_file(result: dict[str, Any]) -> TableFile:
    blocks, csv_rows = [], []
    for m in result["models"]:
        md, tex = [], []
        for mode, stats in m["modes"].items():
            md.append([mode, *[_ci_text(stats[p]) for p in PARTS], str(stats["n_clips"])])
            tex.append([mode, *[_ci_text(stats[p], latex=True) for p in PARTS], str(stats["n_clips"])])
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
            *(
                [f"Rows marked '{RANDOM_LABEL}' come from untrained models (pipeline check only)."]
                if result.get("random_weights")
                else []
            ),
            *[f"Not run: {k} ({v})." for k, v in (result.get("skipped_models") or {}).items()],
        ]
    )
    heads = ["Decoding", "LSD boundary (dB) ↓", "LSD inside (dB) ↓", "boundary − inside (dB)", "clips"]
    header = ["model", "decoding", "random_weights", "sigma_cond"]
    for p in PARTS:
        header += [p, f"{p}_ci_low", f"{p}_ci_high"]
    table = Table(
        caption, f"tab:seams-{result['config_name']}", heads, [tex_escape(h) for h in heads], blocks
    )
    return TableFile(f"seams_{result['config_name']}", [table], header + ["clips"], csv_rows)


def render(result_file: str | Path, output_dir: str | Path) -> list[Path]:
    """Write `<output_dir>/tables/seams_<config>.{md,tex,csv}`; returns the paths written."""
    return table_file(read_result(result_file)).write(Path(output_dir) / "tables")
