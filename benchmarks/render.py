"""Render Table II from a result file as Markdown, LaTeX (booktabs) and CSV, beside the paper's published rows.

Conventions (as in the paper): per metric column, the best value is bold and the best learned autoencoder
is underlined. Bold is chosen among the compared rows (the identity reference is excluded: it trivially wins
every pair-wise metric); underline only among rows of kind "autoencoder". The measured block and the
published block are ranked separately: they come from different datasets and are never compared.
Metrics that were not computed show as "n/c" with the reason in a footnote; a metric the paper does not
report shows as "–". Rows with random weights are never rendered.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from m2l2.errors import M2L2Error

PAPER_FILE = Path(__file__).parent / "data" / "paper_tables.yaml"
# metric → (column title, higher is better, digits)
METRIC_COLUMNS: dict[str, tuple[str, bool, int]] = {
    "sisdr": ("SI-SDR ↑", True, 2),
    "visqol": ("ViSQOL ↑", True, 2),
    "fad-clap": ("FAD_clap ↓", False, 3),
    "fad-vggish": ("FAD ↓", False, 3),
    "fad-musicnn": ("FAD_musicnn ↓", False, 3),
}
LATEX_TITLES = {
    "sisdr": r"SI-SDR $\uparrow$", "visqol": r"ViSQOL $\uparrow$", "fad-clap": r"FAD$_\text{clap}$ $\downarrow$",
    "fad-vggish": r"FAD $\downarrow$", "fad-musicnn": r"FAD$_\text{musicnn}$ $\downarrow$",
}
DATASET_TITLES = {
    "suite-music": "the offline default suite's music part (real recorded game music, 10 s clips)",
    "musiccaps": "MusicCaps (AudioSet eval split)",
    "folder": "a folder of audio files",
}


@dataclass
class Cell:
    value: float | None = None
    ci: tuple[float, float] | None = None
    note: int | None = None  # footnote number for "n/c"
    missing: str = "n/c"  # what to print without a value ("n/c" measured, "–" not reported)
    bold: bool = False
    underline: bool = False


@dataclass
class Row:
    block: str  # "measured" or "paper"
    label: str
    kind: str
    compression: float | None
    stereo: bool | None
    cells: dict[str, Cell] = field(default_factory=dict)


def load_paper_tables(path: Path = PAPER_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _mark_best(rows: list[Row], metrics: list[str]) -> None:
    """Bold the best compared value and underline the best autoencoder per column (ties all marked)."""
    for m in metrics:
        higher = METRIC_COLUMNS[m][1]
        digits = METRIC_COLUMNS[m][2]

        def best(candidates: list[Row], m: str = m, higher: bool = higher, digits: int = digits) -> list[Row]:
            vals = [(round(r.cells[m].value, digits), r) for r in candidates if r.cells[m].value is not None]
            if not vals:
                return []
            target = max(v for v, _ in vals) if higher else min(v for v, _ in vals)
            return [r for v, r in vals if v == target]

        for r in best([r for r in rows if r.kind != "reference"]):
            r.cells[m].bold = True
        for r in best([r for r in rows if r.kind == "autoencoder"]):
            r.cells[m].underline = True


def build_rows(result: dict[str, Any], paper: dict[str, Any] | None) -> tuple[list[Row], list[str], list[str]]:
    """(rows, metric columns, footnotes) of Table II from a result dict and the published numbers."""
    metrics = [m for m in result["metrics"] if m in METRIC_COLUMNS]
    notes: list[str] = []
    measured: list[Row] = []
    for model in result["models"]:
        if not model.get("pretrained", False):
            continue  # random weights are never reported
        row = Row("measured", model["label"], model["kind"], model.get("compression_ratio"), model.get("stereo"))
        for m in metrics:
            s = model["metrics"].get(m) or {"status": "not computed", "reason": "not in this result file"}
            if s.get("status") == "ok" and s.get("value") is not None:
                row.cells[m] = Cell(float(s["value"]), tuple(s["ci"]) if s.get("ci") else None)
            else:
                text = f"{m}: {s.get('reason') or 'not computed'}"
                if text not in notes:
                    notes.append(text)
                row.cells[m] = Cell(note=notes.index(text) + 1)
        measured.append(row)
    _mark_best(measured, metrics)
    published: list[Row] = []
    if paper is not None:
        for p in paper["table2"]["rows"]:
            row = Row("paper", p["model"], p.get("kind", "autoencoder"), p.get("compression"), p.get("stereo"))
            for m in metrics:
                v = p.get(m)
                row.cells[m] = Cell(float(v)) if v is not None else Cell(missing="–")
            published.append(row)
        _mark_best(published, metrics)
    return measured + published, metrics, notes


def _fmt(v: float, digits: int) -> str:
    text = f"{v:.{digits}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")  # no "−0.000" for values that round to zero
    return text.replace("-", "−")


def _cell_text(c: Cell, digits: int, latex: bool) -> str:
    if c.value is None:
        if c.note is None:
            return c.missing if not latex else ("--" if c.missing == "–" else c.missing)
        return f"n/c$^{{{c.note}}}$" if latex else f"n/c^{c.note}"
    text = _fmt(c.value, digits)
    if latex:
        text = text.replace("−", "$-$")
    if c.bold:
        text = rf"\textbf{{{text}}}" if latex else f"**{text}**"
    if c.underline:
        text = rf"\underline{{{text}}}" if latex else f"<u>{text}</u>"
    if c.ci is not None:
        lo, hi = (_fmt(x, digits) for x in c.ci)
        if latex:
            lo, hi = lo.replace("−", "$-$"), hi.replace("−", "$-$")
            text += rf" {{\scriptsize [{lo}, {hi}]}}"
        else:
            text += f" [{lo}, {hi}]"
    return text


def _compression(row: Row) -> str:
    return "N/A" if row.compression is None else f"{row.compression:.4g}x"


def _stereo(row: Row) -> str:
    return "–" if row.stereo is None else ("yes" if row.stereo else "no")


def caption(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    ds = result["dataset"]
    title = DATASET_TITLES.get(ds["name"], ds["name"])
    level = int(round(100 * result["config"]["eval"]["ci_level"]))
    parts = [
        f"Table II (reconstruction), measured on {title}: {ds['clips']} clips"
        + (f" of split '{ds['split']}'" if ds.get("split") else "") + f" (config '{result['config_name']}').",
        f"SI-SDR and ViSQOL: mean over clips; FADs: one distance between the reference and reconstruction sets; "
        f"[{level}% bootstrap CI over clips].",
    ]
    emb = result.get("embedders") or {}
    if emb:
        parts.append("Embedders: " + "; ".join(f"{m} = {ident}" for m, ident in emb.items()) + ".")
    weights = []
    for m in result["models"]:
        if not m.get("pretrained", False):
            continue
        prov = m["identity"]["provenance"]
        w = prov.get("weights") or prov.get("note") or "none"
        if prov.get("sha256"):
            w += f" (sha256 {prov['sha256'][:12]})"
        weights.append(f"{m['label']}: {w}")
    if weights:
        parts.append("Weights: " + "; ".join(weights) + ".")
    parts.append("Bold: best measured value per column (identity reference excluded); underlined: best learned "
                 "autoencoder" + ("" if any(m["kind"] == "autoencoder" for m in result["models"])
                                  else " (none measured here)") + ".")
    if paper is not None:
        parts.append(f"Published rows: copied from {paper['source']}, measured on {paper['dataset']} by its "
                     "authors, ranked separately; not comparable with the measured rows.")
    for label, why in (result.get("skipped_models") or {}).items():
        parts.append(f"Not run: {label} ({why}).")
    return " ".join(parts)


def to_markdown(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    rows, metrics, notes = build_rows(result, paper)
    head = ["Model", "Compression", "Stereo", *[METRIC_COLUMNS[m][0] for m in metrics]]
    lines = [f"**{caption(result, paper)}**", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    block = None
    for r in rows:
        if r.block != block:
            block = r.block
            title = "*Measured (this run)*" if block == "measured" else f"*Published ({paper['dataset']}, paper)*"
            lines.append("| " + title + " |" + " |" * (len(head) - 1))
        cells = [_cell_text(r.cells[m], METRIC_COLUMNS[m][2], False) for m in metrics]
        lines.append("| " + " | ".join([r.label, _compression(r), _stereo(r), *cells]) + " |")
    if notes:
        lines.append("")
        lines += [f"n/c^{i}: not computed — {text}" for i, text in enumerate(notes, 1)]
    lines.append("")
    lines.append("– : not reported in the paper.")
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("û", r"\^u"), ("↑", r"$\uparrow$"),
                 ("↓", r"$\downarrow$"), ("–", "--"), ("—", "---"), ("≈", r"$\approx$"), ("σ", r"$\sigma$")):
        text = text.replace(a, b)
    return text


def to_latex(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    rows, metrics, notes = build_rows(result, paper)
    ncol = 3 + len(metrics)
    head = ["Model", "Compression", "Stereo", *[LATEX_TITLES[m] for m in metrics]]
    out = [r"% needs \usepackage{booktabs}", r"\begin{table*}[t]", r"\centering",
           r"\caption{" + _tex_escape(caption(result, paper)) + "}", r"\label{tab:table2-" + result["config_name"] + "}",
           r"\begin{tabular}{l" + "c" * (ncol - 1) + "}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    block = None
    for r in rows:
        if r.block != block:
            if block is not None:
                out.append(r"\midrule")
            block = r.block
            title = "Measured (this run)" if block == "measured" else f"Published ({paper['dataset']}, paper)"
            out.append(rf"\multicolumn{{{ncol}}}{{l}}{{\emph{{{_tex_escape(title)}}}}} \\")
        cells = [_cell_text(r.cells[m], METRIC_COLUMNS[m][2], True) for m in metrics]
        out.append(" & ".join([_tex_escape(r.label), _compression(r), _stereo(r), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        out.append(r"\\[2pt]{\footnotesize " + "; ".join(
            f"$^{i}$not computed: {_tex_escape(t)}" for i, t in enumerate(notes, 1)) + "}")
    out.append(r"\end{table*}")
    return "\n".join(out) + "\n"


def to_csv(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    rows, metrics, notes = build_rows(result, paper)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["block", "model", "kind", "compression_ratio", "stereo"]
    for m in metrics:
        header += [m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_status"]
    w.writerow(header)
    for r in rows:
        line: list[Any] = [r.block, r.label, r.kind, "" if r.compression is None else f"{r.compression:.6g}",
                           "" if r.stereo is None else str(r.stereo).lower()]
        for m in metrics:
            c = r.cells[m]
            status = "ok" if c.value is not None else (f"not computed: {notes[c.note - 1]}" if c.note else "not reported")
            line += ["" if c.value is None else repr(round(c.value, 6)),
                     "" if c.ci is None else repr(round(c.ci[0], 6)),
                     "" if c.ci is None else repr(round(c.ci[1], 6)), status]
        w.writerow(line)
    return buf.getvalue()


def render_table2(result_file: str | Path, out_dir: str | Path, paper_file: Path | None = PAPER_FILE) -> list[Path]:
    """Write table2_<config>.{md,tex,csv} into `out_dir` from a result JSON; returns the paths written."""
    result_file = Path(result_file)
    if not result_file.is_file():
        raise M2L2Error(f"result file not found: {result_file} (run `m2l2 tables` first)")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    paper = load_paper_tables(paper_file) if paper_file is not None else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, fn in ((".md", to_markdown), (".tex", to_latex), (".csv", to_csv)):
        path = out_dir / f"table2_{result['config_name']}{suffix}"
        text = fn(result, paper)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_name(path.name + ".part")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        written.append(path)
    return written
