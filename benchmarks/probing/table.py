"""Table III rendering (Markdown, LaTeX booktabs, CSV) from a result file, with the paper's published table.

Cells are mean ± std over runs (seeds, and folds where the task has them), in percent like the paper. Per
column the best mean is bold and the best autoencoder underlined (ties all marked). The published Table III
is a separate block with its own columns: the paper measured MagnaTagATune, Beatport and TinySOL, which are
not the datasets of a default-suite run, so no published number is put in a measured column.
"""

from __future__ import annotations

import csv
import io
from typing import Any

METRIC_TITLES = {
    "auc_roc": "AUC-ROC", "auc_pr": "AUC-PR", "key_weighted_micro": "weighted micro",
    "key_weighted_macro": "weighted macro", "accuracy": "accuracy", "f1_micro": "F1 micro", "f1_macro": "F1 macro",
}
PAPER_COLUMNS = {
    "mtat_auc_roc": ("MTAT", "AUC-ROC"), "mtat_auc_pr": ("MTAT", "AUC-PR"),
    "beatport_micro_acc": ("Beatport key", "micro"), "beatport_macro_acc": ("Beatport key", "macro"),
    "tinysol_pitch_micro_f1": ("TinySOL pitch", "F1 micro"), "tinysol_pitch_macro_f1": ("TinySOL pitch", "F1 macro"),
    "tinysol_instr_micro_f1": ("TinySOL instr.", "F1 micro"), "tinysol_instr_macro_f1": ("TinySOL instr.", "F1 macro"),
}
DATASET_TITLES = {
    "suite-notes": "default suite notes (rendered SoundFont notes)", "suite-key": "default suite key (Bach chorales)",
    "suite-tags": "default suite tags", "mtat": "MagnaTagATune", "beatport": "Beatport EDM key", "tinysol": "TinySOL",
}


def columns(result: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(task, metric) pairs in table order."""
    return [(t, m) for t in result["tasks"] for m in t["metrics"]]


def _cells(result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows {label, kind, cells: [(mean, std) | note index]} with bold/underline flags, and footnotes."""
    cols = columns(result)
    notes: list[str] = []
    rows = []
    for m in result["models"]:
        cells = []
        for task, metric in cols:
            agg = (m["results"].get(task["name"]) or {}).get(metric) or {}
            if agg.get("mean") is None:
                why = f"{m['label']} / {task['name']}: no runs"
                if why not in notes:
                    notes.append(why)
                cells.append({"note": notes.index(why) + 1})
            else:
                cells.append({"mean": 100 * agg["mean"], "std": 100 * (agg.get("std") or 0.0), "n": agg["n"]})
        label = m["label"] + (" (random weights)" if m["provenance"].get("pretrained") is False else "")
        rows.append({"label": label, "kind": m["kind"], "cells": cells})
    for j in range(len(cols)):
        for pool, flag in ((rows, "bold"), ([r for r in rows if r["kind"] == "autoencoder"], "underline")):
            vals = [round(r["cells"][j]["mean"], 1) for r in pool if "mean" in r["cells"][j]]
            if vals:
                for r in pool:
                    c = r["cells"][j]
                    if "mean" in c and round(c["mean"], 1) == max(vals):
                        c[flag] = True
    return rows, notes


def _paper_rows(paper: dict[str, Any] | None) -> tuple[list[str], list[dict[str, Any]]]:
    if not paper or "table3" not in paper:
        return [], []
    t = paper["table3"]
    cols = list(t["columns"])
    rows = [{"label": r["model"], "kind": r.get("kind", "autoencoder"),
             "cells": [{"mean": float(v)} if v is not None else {} for v in r["values"]]} for r in t["rows"]]
    for j in range(len(cols)):
        for pool, flag in ((rows, "bold"), ([r for r in rows if r["kind"] == "autoencoder"], "underline")):
            vals = [r["cells"][j]["mean"] for r in pool if "mean" in r["cells"][j]]
            for r in pool:
                if vals and r["cells"][j].get("mean") == max(vals):
                    r["cells"][j][flag] = True
    return cols, rows


def _text(c: dict[str, Any], latex: bool) -> str:
    if "mean" not in c:
        if "note" in c:
            return f"n/c$^{{{c['note']}}}$" if latex else f"n/c^{c['note']}"
        return "--" if latex else "–"
    v = f"{c['mean']:.1f}"
    if c.get("bold"):
        v = rf"\textbf{{{v}}}" if latex else f"**{v}**"
    if c.get("underline"):
        v = rf"\underline{{{v}}}" if latex else f"<u>{v}</u>"
    if "std" in c:
        v += (rf" {{\scriptsize$\pm${c['std']:.1f}}}" if latex else f" ± {c['std']:.1f}")
    return v


def caption(result: dict[str, Any]) -> str:
    tasks = "; ".join(
        f"{t['title']}: {DATASET_TITLES.get(t['dataset'], t['dataset'])}, label '{t['label']}', {t['items']} items, "
        + (f"folds {t['folds']}" if t.get("folds") else "given train/valid/test split")
        for t in result["tasks"])
    parts = [f"Table III (downstream probing), measured (config '{result['config_name']}'): {tasks}.",
             f"mir_ref protocol: time-averaged embeddings, MLP [256, 128], Adam 1e-3, L2 1e-5, batch 1083, early "
             f"stopping on validation loss (patience 10, ≤100 epochs), every test item scored. Values: mean ± std "
             f"(ddof 1) in % over seeds {result['seeds']}" + (" and folds" if any(t.get("folds") for t in
                                                                               result["tasks"]) else "") + ".",
             "Bold: best per column; underlined: best autoencoder."]
    weights = [f"{m['label']}: {m['provenance'].get('weights') or 'n/a'}" for m in result["models"]]
    if weights:
        parts.append("Weights: " + "; ".join(weights) + ".")
    for label, why in (result.get("skipped_models") or {}).items():
        parts.append(f"Not run: {label} ({why}).")
    for name, why in (result.get("skipped_tasks") or {}).items():
        parts.append(f"Task not run: {name} ({why}).")
    return " ".join(parts)


def to_markdown(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    rows, notes = _cells(result)
    cols = columns(result)
    lines = [f"**{caption(result)}**", ""]
    head = ["Model", *[f"{t['title']} {METRIC_TITLES[m]} ↑" for t, m in cols]]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([r["label"], *[_text(c, False) for c in r["cells"]]]) + " |")
    if not rows:
        lines.append("| (no model could be run) |" + " |" * len(cols))
    lines += [f"n/c^{i}: not computed — {n}" for i, n in enumerate(notes, 1)]
    pcols, prow = _paper_rows(paper)
    if pcols:
        lines += ["", f"**Published Table III ({paper['source']}; MTAT, Beatport, TinySOL; % ; not comparable with "
                  "the measured rows above)**", ""]
        ph = ["Model", *[" ".join(PAPER_COLUMNS.get(c, (c, ""))).strip() for c in pcols]]
        lines += ["| " + " | ".join(ph) + " |", "|" + "|".join(["---"] + ["---:"] * len(pcols)) + "|"]
        for r in prow:
            lines.append("| " + " | ".join([r["label"], *[_text(c, False) for c in r["cells"]]]) + " |")
        if paper["table3"].get("note"):
            lines += ["", f"Note: {paper['table3']['note']}"]
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("û", r"\^u"), ("↑", r"$\uparrow$"), ("±", r"$\pm$"), ("≤", r"$\le$"), ("–", "--"), ("—", "---")):
        text = text.replace(a, b)
    return text


def _tex_table(title_cols: list[str], rows: list[dict[str, Any]], cap: str, label: str) -> list[str]:
    out = [r"\begin{table*}[t]", r"\centering", r"\caption{" + _tex(cap) + "}", r"\label{" + label + "}",
           r"\begin{tabular}{l" + "c" * len(title_cols) + "}", r"\toprule",
           " & ".join(["Model", *[_tex(c) for c in title_cols]]) + r" \\", r"\midrule"]
    for r in rows:
        out.append(" & ".join([_tex(r["label"]), *[_text(c, True) for c in r["cells"]]]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    return out


def to_latex(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    rows, notes = _cells(result)
    titles = [f"{t['title']} {METRIC_TITLES[m]}" for t, m in columns(result)]
    out = [r"% needs \usepackage{booktabs}"]
    out += _tex_table(titles, rows, caption(result), f"tab:table3-{result['config_name']}")
    if notes:
        out.append(r"\\[2pt]{\footnotesize " + "; ".join(f"$^{i}$not computed: {_tex(n)}"
                                                        for i, n in enumerate(notes, 1)) + "}")
    out.append(r"\end{table*}")
    pcols, prow = _paper_rows(paper)
    if pcols:
        out += _tex_table([" ".join(PAPER_COLUMNS.get(c, (c, ""))).strip() for c in pcols], prow,
                          f"Published Table III ({paper['source']}), MTAT/Beatport/TinySOL, %.", "tab:table3-paper")
        out.append(r"\end{table*}")
    return "\n".join(out) + "\n"


def to_csv(result: dict[str, Any], paper: dict[str, Any] | None) -> str:
    rows, notes = _cells(result)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["block", "model", "kind", "task", "dataset", "metric", "mean_pct", "std_pct", "n_runs", "status"])
    for r in rows:
        for (t, m), c in zip(columns(result), r["cells"]):
            status = "ok" if "mean" in c else f"not computed: {notes[c['note'] - 1]}"
            w.writerow(["measured", r["label"], r["kind"], t["name"], t["dataset"], m,
                        "" if "mean" not in c else f"{c['mean']:.4f}", "" if "mean" not in c else f"{c['std']:.4f}",
                        c.get("n", ""), status])
    pcols, prow = _paper_rows(paper)
    for r in prow:
        for col, c in zip(pcols, r["cells"]):
            w.writerow(["paper", r["label"], r["kind"], col, "", col, "" if "mean" not in c else c["mean"], "", "",
                        "published" if "mean" in c else "not reported"])
    return buf.getvalue()
