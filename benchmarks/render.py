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


def _mark_best(rows: list[Row], metrics: list[str], underline: bool = True) -> None:
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
        for r in best([r for r in rows if r.kind == "autoencoder"] if underline else []):
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


def _weights_text(prov: dict[str, Any]) -> str:
    """A model's weights for a caption: file or note, with the start of its sha256."""
    text = prov.get("weights") or prov.get("note") or "none"
    return text + (f" (sha256 {prov['sha256'][:12]})" if prov.get("sha256") else "")


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
        weights.append(f"{m['label']}: {_weights_text(m['identity']['provenance'])}")
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
    result = read_result(result_file)
    paper = load_paper_tables(paper_file) if paper_file is not None else None
    texts = {suffix: fn(result, paper) for suffix, fn in ((".md", to_markdown), (".tex", to_latex), (".csv", to_csv))}
    return write_texts(Path(out_dir), f"table2_{result['config_name']}", texts)


def write_texts(out_dir: Path, stem: str, texts: dict[str, str]) -> list[Path]:
    """Write `<stem><suffix>` files atomically, leaving unchanged files untouched; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in texts.items():
        path = out_dir / f"{stem}{suffix}"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_name(path.name + ".part")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        written.append(path)
    return written


def read_result(result_file: str | Path) -> dict[str, Any]:
    result_file = Path(result_file)
    if not result_file.is_file():
        raise M2L2Error(f"result file not found: {result_file} (run `m2l2 tables` first)")
    return json.loads(result_file.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------- Table III
def render_table3(result_file: str | Path, out_dir: str | Path, paper_file: Path | None = PAPER_FILE) -> list[Path]:
    """Write table3_<config>.{md,tex,csv} from a probing result JSON (layout in benchmarks/probing/table.py)."""
    from benchmarks.probing import table as t3

    result = read_result(result_file)
    paper = load_paper_tables(paper_file) if paper_file is not None else None
    texts = {suffix: fn(result, paper) for suffix, fn in ((".md", t3.to_markdown), (".tex", t3.to_latex),
                                                           (".csv", t3.to_csv))}
    return write_texts(Path(out_dir), f"table3_{result['config_name']}", texts)


# ----------------------------------------------------------------------------------------------- other tables
# Table I, the σ_cond sweep (Fig. 3 as numbers), seams and speed share one grid layout: a caption, a header,
# blocks of rows (measured, published), footnotes. Rows of random-weights models (test configurations only)
# are kept but labelled RANDOM_LABEL, so they can never pass for results.

RANDOM_LABEL = "random weights (test only)"


@dataclass
class Grid:
    caption: str
    label: str  # LaTeX label
    heads: list[str]  # Markdown column titles; LaTeX gets them escaped unless `tex_heads` is given
    blocks: list[tuple[str | None, list[list[str]], list[list[str]]]]  # (title, md rows, tex rows)
    csv_header: list[str]
    csv_rows: list[list[Any]]
    footer: list[str] = field(default_factory=list)
    tex_heads: list[str] | None = None

    def markdown(self) -> str:
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.heads) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(self.heads) - 1)) + "|"]
        for title, rows, _ in self.blocks:
            if title:
                lines.append(f"| *{title}* |" + " |" * (len(self.heads) - 1))
            lines += ["| " + " | ".join(r) + " |" for r in rows]
        if self.footer:
            lines += [""] + self.footer
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        n = len(self.heads)
        heads = self.tex_heads or [_tex_escape(h) for h in self.heads]
        out = [r"% needs \usepackage{booktabs}", r"\begin{table}[t]", r"\centering",
               r"\caption{" + _tex_escape(self.caption) + "}", r"\label{" + self.label + "}",
               r"\begin{tabular}{l" + "c" * (n - 1) + "}", r"\toprule", " & ".join(heads) + r" \\", r"\midrule"]
        for i, (title, _, rows) in enumerate(self.blocks):
            if i:
                out.append(r"\midrule")
            if title:
                out.append(rf"\multicolumn{{{n}}}{{l}}{{\emph{{{_tex_escape(title)}}}}} \\")
            out += [" & ".join(r) + r" \\" for r in rows]
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.footer:
            out.append(r"\\[2pt]{\footnotesize " + "; ".join(_tex_escape(f) for f in self.footer) + "}")
        out.append(r"\end{table}")
        return "\n".join(out) + "\n"

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.csv_header)
        w.writerows(self.csv_rows)
        return buf.getvalue()

    def write(self, out_dir: str | Path, stem: str) -> list[Path]:
        return write_texts(Path(out_dir), stem, {".md": self.markdown(), ".tex": self.latex(), ".csv": self.csv()})


def _label(text: str, random_weights: bool) -> str:
    return f"{text} — {RANDOM_LABEL}" if random_weights else text


def _csv_num(v: float | None) -> str:
    return "" if v is None else repr(round(float(v), 6))


def _csv_metric_header(metrics: list[str]) -> list[str]:
    return [name for m in metrics for name in (m, f"{m}_ci_low", f"{m}_ci_high")]


def _csv_metric_values(cells: dict[str, Any], metrics: list[str]) -> list[str]:
    """Each metric's value and interval bounds as CSV fields (empty where absent)."""
    out = []
    for m in metrics:
        low, high = cells[m].ci if cells[m].ci else (None, None)
        out += [_csv_num(cells[m].value), _csv_num(low), _csv_num(high)]
    return out


def _metric_cells(rows: list[Row], metrics: list[str], digits: dict[str, int] | None = None
                  ) -> tuple[list[list[str]], list[list[str]]]:
    d = {m: (digits or {}).get(m, METRIC_COLUMNS[m][2]) for m in metrics}
    md = [[_cell_text(r.cells[m], d[m], False) for m in metrics] for r in rows]
    tex = [[_cell_text(r.cells[m], d[m], True) for m in metrics] for r in rows]
    return md, tex


def _summary_cell(summary: dict[str, Any] | None, metric: str, notes: list[str]) -> Cell:
    s = summary or {"status": "not computed", "reason": "not selected in this configuration's metrics"}
    if s.get("status") == "ok" and s.get("value") is not None:
        return Cell(float(s["value"]), tuple(s["ci"]) if s.get("ci") else None)
    text = f"{metric}: {s.get('reason') or 'not computed'}"
    if text not in notes:
        notes.append(text)
    return Cell(note=notes.index(text) + 1)


def _common_caption(result: dict[str, Any]) -> list[str]:
    ds = result["dataset"]
    title = DATASET_TITLES.get(ds["name"], ds["name"])
    parts = [f"Measured on {title}: {ds['clips']} clips" + (f" of split '{ds['split']}'" if ds.get("split") else "")
             + f" (config '{result['config_name']}')."]
    emb = result.get("embedders") or {}
    if emb:
        parts.append("Embedders: " + "; ".join(f"{m} = {ident}" for m, ident in emb.items()) + ".")
    weights = []
    for label, w in (result.get("provenance", {}).get("weights") or {}).items():
        weights.append(f"{label}: {_weights_text(w)}")
    if weights:
        parts.append("Weights: " + "; ".join(weights) + ".")
    if result.get("random_weights"):
        parts.append(f"Rows marked '{RANDOM_LABEL}' come from untrained models of a test configuration: they "
                     "show that the pipeline runs, not how any model performs.")
    for label, why in (result.get("skipped_models") or {}).items():
        parts.append(f"Not run: {label} ({why}).")
    return parts


def _footnotes(notes: list[str]) -> list[str]:
    return [f"n/c^{i}: not computed — {text}" for i, text in enumerate(notes, 1)]


def table1_grid(result: dict[str, Any], paper: dict[str, Any] | None) -> Grid:
    """Table I: summary embeddings vs ordered latents (FAD columns), measured beside published."""
    metrics = [m for m in result["metrics"] if m in METRIC_COLUMNS]
    if paper is not None and "table1" in paper:  # the paper's columns always show, measured or not
        metrics += [m for m in paper["table1"]["metrics"] if m in METRIC_COLUMNS and m not in metrics]
    notes: list[str] = []
    role_titles = {"summary": "w/ summary emb.", "ordered": "w/o summary emb. (ordered latents)"}
    measured = []
    for p in result["points"]:
        row = Row("measured", _label(f"{role_titles.get(p.get('role'), p['label'])}: {p['label']}",
                                     p.get("random_weights", False)), "autoencoder", p.get("compression_ratio"),
                  p.get("stereo"))
        row.cells = {m: _summary_cell(p["metrics"].get(m), m, notes) for m in metrics}
        measured.append(row)
    _mark_best(measured, metrics)
    blocks_rows: list[tuple[str, list[Row]]] = [("Measured (this run)", measured)]
    if paper is not None and "table1" in paper:
        published = []
        for p in paper["table1"]["rows"]:
            row = Row("paper", p["model"], "autoencoder", None, None)
            row.cells = {m: Cell(float(p[m])) if p.get(m) is not None else Cell(missing="–") for m in metrics}
            published.append(row)
        _mark_best(published, metrics)
        blocks_rows.append((f"Published ({paper['dataset']}, paper)", published))
    heads = ["Model", "Compression", *[METRIC_COLUMNS[m][0] for m in metrics]]
    blocks, csv_rows = [], []
    for title, rows in blocks_rows:
        md, tex = _metric_cells(rows, metrics, {"fad-clap": 4})  # Table I of the paper gives FAD_clap to 4 digits
        blocks.append((title, [[r.label, _compression(r), *c] for r, c in zip(rows, md)],
                       [[_tex_escape(r.label), _compression(r), *c] for r, c in zip(rows, tex)]))
        for r in rows:
            line: list[Any] = [r.block, r.label, "" if r.compression is None else f"{r.compression:.6g}"]
            csv_rows.append(line + _csv_metric_values(r.cells, metrics))
    level = int(round(100 * result["config"]["eval"]["ci_level"]))
    caption = " ".join([
        "Table I (ablation): summary embeddings vs ordered latents at the same compression.",
        *_common_caption(result),
        f"FADs: one distance between the reference and reconstruction sets [{level}% bootstrap CI over clips]; "
        "bold: best value, underlined: best autoencoder, per block.",
        *([f"Published rows: copied from {paper['source']} ({paper['table1']['caption']}), measured by its "
           "authors; not comparable with the measured rows."] if paper is not None and "table1" in paper else []),
    ])
    csv_header = ["block", "model", "compression_ratio"]
    csv_header += _csv_metric_header(metrics)
    return Grid(caption, f"tab:table1-{result['config_name']}", heads, blocks, csv_header, csv_rows,
                _footnotes(notes) + ["– : not reported in the paper."],
                ["Model", "Compression", *[LATEX_TITLES[m] for m in metrics]])


def render_table1(result_file: str | Path, out_dir: str | Path, paper_file: Path | None = PAPER_FILE) -> list[Path]:
    result = read_result(result_file)
    paper = load_paper_tables(paper_file) if paper_file is not None else None
    return table1_grid(result, paper).write(out_dir, f"table1_{result['config_name']}")


def fig3_grid(result: dict[str, Any]) -> Grid:
    """The σ_cond sweep as numbers: one row per (model, decoding, σ_cond); bold: lowest FAD per model."""
    metrics = [m for m in result["metrics"] if m in METRIC_COLUMNS]
    notes: list[str] = []
    by_model: dict[str, list[dict[str, Any]]] = {}
    for p in result["points"]:
        by_model.setdefault(p["model"], []).append(p)
    blocks, csv_rows = [], []
    for model, points in by_model.items():
        points = sorted(points, key=lambda p: (p["mode"] != "two-step", p["sigma_cond"]))
        rows = []
        for p in points:
            row = Row("measured", p["mode"], "codec", p.get("compression_ratio"), p.get("stereo"))
            row.cells = {m: _summary_cell(p["metrics"].get(m), m, notes) for m in metrics}
            rows.append(row)
        _mark_best(rows, metrics, underline=False)
        md, tex = _metric_cells(rows, metrics)
        title = _label(model, any(p.get("random_weights") for p in points))
        blocks.append((title, [[p["mode"], f"{p['sigma_cond']:.2f}", *c] for p, c in zip(points, md)],
                       [[p["mode"], f"{p['sigma_cond']:.2f}", *c] for p, c in zip(points, tex)]))
        for p, r in zip(points, rows):
            line: list[Any] = [model, p["mode"], p["sigma_cond"], str(bool(p.get("random_weights"))).lower()]
            csv_rows.append(line + _csv_metric_values(r.cells, metrics))
    level = int(round(100 * result["config"]["eval"]["ci_level"]))
    caption = " ".join([
        "Fig. 3 as numbers: FAD against the conditioning noise sigma_cond of two-step decoding; one-step "
        "decoding (previous chunk not re-decoded) as reference.", *_common_caption(result),
        f"[{level}% bootstrap CI over clips]; bold: lowest value per model. The paper gives the curve only as a "
        "figure (lowest FAD at sigma_cond = 0.4 on MusicCaps).",
    ])
    csv_header = ["model", "decoding", "sigma_cond", "random_weights"]
    csv_header += _csv_metric_header(metrics)
    return Grid(caption, f"tab:fig3-{result['config_name']}", ["Decoding", "σ_cond",
                *[METRIC_COLUMNS[m][0] for m in metrics]], blocks, csv_header, csv_rows, _footnotes(notes),
                ["Decoding", r"$\sigma_\text{cond}$", *[LATEX_TITLES[m] for m in metrics]])


def render_fig3(result_file: str | Path, out_dir: str | Path) -> list[Path]:
    result = read_result(result_file)
    return fig3_grid(result).write(out_dir, f"fig3_{result['config_name']}")


def _ci_text(stat: dict[str, Any], digits: int = 2, latex: bool = False) -> str:
    if stat.get("value") is None:
        return "n/a"
    return _cell_text(Cell(stat["value"], tuple(stat["ci"]) if stat.get("ci") else None), digits, latex)


def seams_grid(result: dict[str, Any]) -> Grid:
    """Boundary vs inside log-spectral distance per model and decoding mode."""
    blocks, csv_rows = [], []
    parts = ("boundary", "inside", "difference")
    for m in result["models"]:
        md, tex = [], []
        for mode, stats in m["modes"].items():
            md.append([mode, *[_ci_text(stats[p]) for p in parts], str(stats["n_clips"])])
            tex.append([mode, *[_ci_text(stats[p], latex=True) for p in parts], str(stats["n_clips"])])
            csv_rows.append([m["label"], mode, str(bool(m.get("random_weights"))).lower(), m["sigma_cond"],
                             *[x for p in parts for x in (_csv_num(stats[p]["value"]),
                                                          _csv_num(stats[p]["ci"][0] if stats[p]["ci"] else None),
                                                          _csv_num(stats[p]["ci"][1] if stats[p]["ci"] else None))],
                             stats["n_clips"]])
        blocks.append((_label(f"{m['label']} (sigma_cond = {m['sigma_cond']:g}, chunks of "
                              f"{m['chunk_seconds']:.3f} s)", m.get("random_weights", False)), md, tex))
    ds = result["dataset"]
    level = int(round(100 * result["config"]["eval"]["ci_level"]))
    width = result["settings"]["boundary_frames"]
    caption = " ".join([
        "Chunk seams (beyond the paper): error at chunk boundaries vs inside chunks, autoregressive two-step "
        "decoding vs every chunk decoded independently.",
        f"Measured on {DATASET_TITLES.get(ds['name'], ds['name'])}: {ds['clips']} clips (config "
        f"'{result['config_name']}').",
        f"Error: {result['measure']}; lower is better; boundary: the {width} frames each side of a chunk "
        f"boundary; difference: paired per-clip boundary − inside; [{level}% bootstrap CI over clips].",
        *([f"Rows marked '{RANDOM_LABEL}' come from untrained models (pipeline check only)."]
          if result.get("random_weights") else []),
        *[f"Not run: {k} ({v})." for k, v in (result.get("skipped_models") or {}).items()],
    ])
    heads = ["Decoding", "LSD boundary (dB) ↓", "LSD inside (dB) ↓", "boundary − inside (dB)", "clips"]
    header = ["model", "decoding", "random_weights", "sigma_cond"]
    for p in parts:
        header += [p, f"{p}_ci_low", f"{p}_ci_high"]
    return Grid(caption, f"tab:seams-{result['config_name']}", heads, blocks, header + ["clips"], csv_rows)


def render_seams(result_file: str | Path, out_dir: str | Path) -> list[Path]:
    result = read_result(result_file)
    return seams_grid(result).write(out_dir, f"seams_{result['config_name']}")


def _sig(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def speed_grid(result: dict[str, Any]) -> Grid:
    """Encode/decode real-time factors and peak memory, all models on one machine in one run."""
    md = []
    csv_rows = []
    for r in result["rows"]:
        md.append([_label(r["label"], r.get("random_weights", False)), r["kind"],
                   "N/A" if r.get("compression_ratio") is None else f"{r['compression_ratio']:.4g}x",
                   _sig(r["encode_rtf"]), _sig(r["decode_rtf"]), f"{r['encode_peak_mib']:.0f}",
                   f"{r['decode_peak_mib']:.0f}"])
        csv_rows.append([r["label"], r["kind"], _csv_num(r.get("compression_ratio")),
                         str(bool(r.get("random_weights"))).lower(), repr(r["encode_rtf"]), repr(r["decode_rtf"]),
                         _csv_num(r["encode_peak_mib"]), _csv_num(r["decode_peak_mib"])])
    mach = result["machine"]
    where = mach.get("gpu") or f"{mach['cpu_count']} CPU cores, {mach['torch_threads']} torch threads"
    st = result["settings"]
    caption = " ".join([
        f"Speed (config '{result['config_name']}'): real-time factor (compute seconds per second of audio, lower "
        f"is faster; best of {st['repeats']} after a warm-up) and peak memory growth, on {result['audio']['seconds']:g} s "
        f"of {result['audio']['source']}, all models in one run on {mach['host']} ({where}, device {mach['device']}).",
        "Peak memory: growth of the resident set on CPU (sampled every 2 ms), peak CUDA allocation on GPU.",
        *([f"System load average when the timing started (1/5/15 min): "
           f"{' / '.join(f'{x:g}' for x in result['load_average_1_5_15_min'])} on {mach['cpu_count']} cores; "
           "a load above the core count means other processes competed for the CPU and slowed every row."]
          if result.get("load_average_1_5_15_min") else []),
        *([f"Rows marked '{RANDOM_LABEL}' come from untrained models (timing of the architecture only)."]
          if result.get("random_weights") else []),
        *[f"Not run: {k} ({v})." for k, v in (result.get("skipped_models") or {}).items()],
    ])
    heads = ["Model", "Kind", "Compression", "Encode RTF ↓", "Decode RTF ↓", "Encode peak MiB", "Decode peak MiB"]
    tex = [[_tex_escape(c) for c in row] for row in md]
    return Grid(caption, f"tab:speed-{result['config_name']}", heads, [(None, md, tex)],
                ["model", "kind", "compression_ratio", "random_weights", "encode_rtf", "decode_rtf",
                 "encode_peak_mib", "decode_peak_mib"], csv_rows)


def render_speed(result_file: str | Path, out_dir: str | Path) -> list[Path]:
    result = read_result(result_file)
    return speed_grid(result).write(out_dir, f"speed_{result['config_name']}")
