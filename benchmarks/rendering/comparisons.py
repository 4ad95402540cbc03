"""How a comparison (`benchmarks.metrics.paired.Comparison`) is written in every table: Markdown, LaTeX and
one CSV layout shared by all tables, written to `<output>/tables/differences/<stem>.csv` (a folder of its own,
so the tables folder keeps one md/tex/csv triple per experiment).

Convention: difference [interval] then p with the mark of `benchmarks.metrics.paired.mark` (`*` < 0.05,
`**` < 0.01, `***` < 0.001, on the Holm-adjusted p where a family is named, else on the raw p). In Markdown
the asterisks are escaped (`\\*`), in LaTeX they are a superscript, in CSV the `mark` column holds them as
is. A comparison that could not be made shows "n/c^k" with its reason as footnote k.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.metrics.paired import Comparison
from benchmarks.rendering.table import fmt
from m2l2.io import write_text_if_changed

CSV_HEADER = [
    "table", "family", "a", "b", "metric", "kind", "status", "reason", "value_a", "value_b", "difference",
    "ci_low", "ci_high", "ci_level", "p_value", "p_adjusted", "mark", "test", "resamples", "n_clips",
    "skipped_a", "skipped_b", "frames_reference", "frames_a", "frames_b", "sign_flip_share", "shift",
]  # fmt: skip
MARK_SENTENCE = (
    "p: two-sided; per-clip metrics and per-song FAD: paired sign-flip permutation test over the clips both "
    "systems scored (mean difference, paired percentile bootstrap interval); set FAD/KAD: joint bootstrap of "
    "clips for the reference and both systems, p = min(1, 2(k+1)/(B+1)) with k of B resampled differences of "
    "the opposite sign; p≤ when k = 0: the smallest p that B resamples can give (raise eval.fad_n_boot for a "
    "finer one). Marks: * p < 0.05, ** p < 0.01, *** p < 0.001 (Holm-adjusted p where a family is named)."
)


def mark_sentence(markdown: bool) -> str:
    """The p-value and mark convention for a caption (asterisks escaped in Markdown, where they are bold)."""
    return MARK_SENTENCE.replace("*", r"\*") if markdown else MARK_SENTENCE


def size_sentence(metrics: list[str]) -> str:
    """The (n/F) convention of FAD/KAD cells and the sample-size bias of FAD, for a caption."""
    what = "a FAD or KAD value" if any(m.startswith("kad-") for m in metrics) else "a FAD value"
    return (
        f"(n/F) after {what}: clips / embedding frames of the evaluated set; FAD is biased by sample size "
        "(it falls as n and F grow), so compare FADs only at equal n and F."
    )


# ----------------------------------------------------------------------------------------------- text


def p_text(c: Comparison, latex: bool = False, markdown: bool = True) -> str:
    """p as "p=0.012" with its mark: escaped in Markdown, a superscript in LaTeX, as is in plain text;
    "" without a p-value. A set comparison without one opposite-sign resample (k = 0) shows "p≤0.010": its
    p is the floor 2/(B+1) of B resamples (times Holm's factor), not an estimate."""
    p = c.p
    if p is None:
        return ""
    at_floor = c.kind == "set" and c.sign_flip_share == 0.0  # k = 0: p is the bound B resamples allow
    text = "p<0.001" if p < 0.001 else f"p≤{p:.3f}" if at_floor else f"p={p:.3f}"
    if latex:
        text = text.replace("=", "{=}").replace("≤", r"\leq ")
        return f"${text}" + (f"^{{{c.mark}}}$" if c.mark else "$")
    return text + (c.mark.replace("*", r"\*") if markdown else c.mark)


def number(v: float, digits: int, latex: bool) -> str:
    text = fmt(v, digits)
    return text.replace("−", "$-$") if latex else text


def note_ref(reason: str, notes: list[str], latex: bool) -> str:
    """ "n/c^k" for a comparison that was not computed, its reason added to `notes` once."""
    if reason not in notes:
        notes.append(reason)
    k = notes.index(reason) + 1
    return f"n/c$^{{{k}}}$" if latex else f"n/c^{k}"


def comparison_text(c: Comparison, digits: int, latex: bool, notes: list[str], with_p: bool = True) -> str:
    """difference [low, high] p=…mark, or "n/c^k" with the reason in `notes`."""
    if not c.ok:
        return note_ref(not_computed_text(c), notes, latex)
    text = number(c.difference, digits, latex)  # type: ignore[arg-type]
    if c.ci is not None:
        lo, hi = (number(v, digits, latex) for v in c.ci)
        text += rf" {{\scriptsize [{lo}, {hi}]}}" if latex else f" [{lo}, {hi}]"
    if with_p and c.p is not None:
        text += " " + p_text(c, latex)
    return text


def not_computed_text(c: Comparison) -> str:
    """ "fad-musicnn (set): not computed (needs the embedding cache) — detail" for a footnote."""
    main, _, detail = (c.reason or "unavailable").partition(" — ")
    return f"{c.metric} ({c.kind}): not computed ({main})" + (f" — {detail}" if detail else "")


def size_suffix(summary: dict[str, Any] | None, latex: bool) -> str:
    """ " (n/F)" for a computed FAD/KAD summary with its frame count; "" otherwise."""
    s = summary or {}
    frames = (s.get("details") or {}).get("frames_estimate")
    if s.get("status") != "ok" or s.get("value") is None or frames is None:
        return ""
    text = f"({s.get('n', 0)}/{frames})"
    return rf" {{\scriptsize {text}}}" if latex else f" {text}"


def reference_frames(summaries: Sequence[dict[str, Any] | None]) -> str:
    """The reference set's frame counts of some FAD/KAD summaries, for a caption ("360"; "" when none)."""
    seen = sorted(
        {(s.get("details") or {}).get("frames_reference") for s in summaries if s} - {None}  # type: ignore[arg-type]
    )
    return ", ".join(str(v) for v in seen)


def notes_lines(notes: list[str], latex: bool = False) -> list[str]:
    """Footnote lines of "n/c^k" cells (LaTeX: escaped, with a true superscript)."""
    if latex:
        return [f"$^{{{i}}}${tex(text)}" for i, text in enumerate(notes, 1)]
    return [f"n/c^{i}: {text}" for i, text in enumerate(notes, 1)]


def dash(latex: bool) -> str:
    return "--" if latex else "–"


def csv_rows(table: str, comparisons: Sequence[Comparison]) -> list[list[Any]]:
    out = []
    for c in comparisons:
        ci = c.ci or (None, None)
        frames = c.frames or (None, None, None)
        values = [
            table, c.family or "", c.a, c.b, c.metric, c.kind, c.status, c.reason or "", c.value_a,
            c.value_b, c.difference, ci[0], ci[1], c.level, c.p_value, c.p_adjusted, c.mark, c.test,
            c.resamples, c.n_clips, c.skipped_a, c.skipped_b, *frames, c.sign_flip_share, c.shift,
        ]  # fmt: skip
        out.append(["" if v is None else (repr(round(v, 6)) if isinstance(v, float) else v) for v in values])
    return out


DIFFERENCES_DIR = "differences"  # under `<output>/tables/`


def differences_file(stem: str, table: str, tables: list[Any], comparisons: Sequence[Comparison]) -> Any:
    """`differences/<stem>.{md,tex,csv}`: the tables of differences, and every comparison as a CSV row
    (write it to `<output>/tables/differences/`)."""
    from benchmarks.rendering.table import TableFile

    return TableFile(stem, tables, CSV_HEADER, csv_rows(table, comparisons))


def write_differences(out_dir: Path, differences: Any) -> list[Path]:
    """Write a differences file into `out_dir`: its CSV always (a header alone: nothing was compared), its
    Markdown and LaTeX only when it holds a table (an older one is removed, so none is left stale)."""
    if differences.tables:
        return differences.write(out_dir)
    for suffix in (".md", ".tex"):
        (out_dir / f"{differences.stem}{suffix}").unlink(missing_ok=True)
    path = out_dir / f"{differences.stem}.csv"
    write_text_if_changed(path, differences.csv())
    return [path]


def write_csv(path: Path, table: str, comparisons: Sequence[Comparison]) -> Path:
    """`differences/<stem>.csv`: one row per comparison, the same columns for every table."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(table, comparisons))
    write_text_if_changed(path, buf.getvalue())
    return path


def tex(text: str) -> str:
    """LaTeX source of caption or head text (the escape of every table, and true minus signs)."""
    from benchmarks.rendering.latex import tex_escape

    return tex_escape(text).replace("−", "$-$")


def size_fields(summary: dict[str, Any] | None) -> list[str]:
    """CSV fields (clips, frames of the evaluated set) of a FAD/KAD summary; empty where absent."""
    s = summary or {}
    frames = (s.get("details") or {}).get("frames_estimate")
    if s.get("status") != "ok" or frames is None:
        return ["", ""]
    return [str(s.get("n", "")), str(frames)]


def clips_text(c: Comparison, latex: bool = False) -> str:
    """Clips both systems scored, with the clips each side skipped when any."""
    if not c.ok:
        return dash(latex)
    skipped = f" ({c.skipped_a}/{c.skipped_b} skipped)" if c.skipped_a or c.skipped_b else ""
    return f"{c.n_clips}{skipped}"


def frames_text(c: Comparison, latex: bool = False) -> str:
    return " / ".join(str(f) for f in c.frames) if c.ok and c.frames else dash(latex)
