"""The speed table: encode/decode real-time factors and peak memory, all models on one machine in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.rendering.common import RANDOM_LABEL, compression_text, random_label
from benchmarks.rendering.latex import tex_escape
from benchmarks.rendering.table import Block, Table, TableFile, csv_num
from benchmarks.store import read_result


def _sig(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


HEADS = ["Model", "Kind", "Compression", "Encode RTF ↓", "Decode RTF ↓", "Encode peak MiB", "Decode peak MiB"]
CSV_HEADER = [
    "model",
    "kind",
    "compression_ratio",
    "random_weights",
    "encode_rtf",
    "decode_rtf",
    "encode_peak_mib",
    "decode_peak_mib",
]


def _shown_row(r: dict[str, Any]) -> list[str]:
    """A row as the table shows it: RTFs to three significant digits, memory in whole MiB."""
    return [
        random_label(r["label"], r.get("random_weights", False)),
        r["kind"],
        compression_text(r.get("compression_ratio")),
        _sig(r["encode_rtf"]),
        _sig(r["decode_rtf"]),
        f"{r['encode_peak_mib']:.0f}",
        f"{r['decode_peak_mib']:.0f}",
    ]


def _csv_row(r: dict[str, Any]) -> list[str]:
    """A row for the CSV: RTFs at full precision."""
    return [
        r["label"],
        r["kind"],
        csv_num(r.get("compression_ratio")),
        str(bool(r.get("random_weights"))).lower(),
        repr(r["encode_rtf"]),
        repr(r["decode_rtf"]),
        csv_num(r["encode_peak_mib"]),
        csv_num(r["decode_peak_mib"]),
    ]


def caption(result: dict[str, Any]) -> str:
    """What was timed, where and under what load, and which rows are untrained or missing."""
    mach = result["machine"]
    where = mach.get("gpu") or f"{mach['cpu_count']} CPU cores, {mach['torch_threads']} torch threads"
    st = result["settings"]
    parts = [
        f"Speed (config '{result['config_name']}'): real-time factor (compute seconds per second of audio, lower "
        f"is faster; best of {st['repeats']} after a warm-up) and peak memory growth, on {result['audio']['seconds']:g} s "
        f"of {result['audio']['source']}, all models in one run on {mach['host']} ({where}, device {mach['device']}).",
        "Peak memory on CPU: the largest of torch's allocator peak, Python/NumPy allocations and resident-set "
        "growth (the last measured in a call of its own); peak CUDA allocation on GPU.",
    ]
    if result.get("load_average_1_5_15_min"):
        parts.append(
            f"System load average when the timing started (1/5/15 min): "
            f"{' / '.join(f'{x:g}' for x in result['load_average_1_5_15_min'])} on {mach['cpu_count']} cores; "
            "a load above the core count means other processes competed for the CPU and slowed every row."
        )
    if result.get("random_weights"):
        parts.append(
            f"Rows marked '{RANDOM_LABEL}' come from untrained models (timing of the architecture only)."
        )
    parts += [f"Not run: {k} ({v})." for k, v in (result.get("skipped_models") or {}).items()]
    return " ".join(parts)


def table_file(result: dict[str, Any]) -> TableFile:
    """The speed table: one row per timed model."""
    md = [_shown_row(r) for r in result["rows"]]
    tex = [[tex_escape(c) for c in row] for row in md]
    table = Table(
        caption(result),
        f"tab:speed-{result['config_name']}",
        HEADS,
        [tex_escape(h) for h in HEADS],
        [Block(None, md, tex)],
    )
    return TableFile(
        f"speed_{result['config_name']}", [table], CSV_HEADER, [_csv_row(r) for r in result["rows"]]
    )


def render(result_file: str | Path, output_dir: str | Path) -> list[Path]:
    """Write `<output_dir>/tables/speed_<config>.{md,tex,csv}`; returns the paths written."""
    return table_file(read_result(result_file)).write(Path(output_dir) / "tables")
