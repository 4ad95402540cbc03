"""The HTML of the listening report: one static page, inline CSS, relative links only."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from benchmarks.metrics import METRICS
from benchmarks.report.assets import DB_RANGE, EXCERPT_SECONDS, IMAGE_PX, MAX_HZ
from benchmarks.report.cells import CellView

CSS = f"""
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
td.num {{ font-variant-numeric: tabular-nums; }}
.clip img {{ display: block; width: {IMAGE_PX[0]}px; height: {IMAGE_PX[1]}px; }}
.clip audio {{ width: {IMAGE_PX[0]}px; }}
.note {{ color: #8a4b00; }}
.caption {{ font-size: 13px; color: #555; }}
table + .caption {{ margin-top: -1em; }}
"""
INVESTIGATION = "docs/training-investigation.md"


@dataclass(frozen=True)
class ClipView:
    clip: str
    captions: list[str]  # why it was picked, e.g. "worst SI-SDR: -12.40"
    original_audio: str  # paths relative to index.html
    original_image: str
    recon_audio: str
    recon_image: str


@dataclass(frozen=True)
class DenoiserView:
    """A row whose checkpoint was trained as a denoiser only (benchmarks.report.checkpoints)."""

    checkpoint: str  # its folder, e.g. "tiny-summary"
    investigation: str | None  # href of docs/training-investigation.md relative to index.html
    card: str | None = None  # href of the checkpoint's MODEL_CARD.md


@dataclass
class ModelView:
    label: str
    cells: dict[str, CellView]
    clips: list[ClipView]
    note: str | None = None
    denoiser: DenoiserView | None = None


@dataclass
class Page:
    title: str
    dataset: str
    provenance: str
    metrics: list[str]
    models: list[ModelView]
    legend: str = ""  # units, intervals and FAD's sample-size caveat of the Table II columns
    footnotes: list[str] = field(default_factory=list)  # why the "n/c" cells are empty, numbered from 1
    fig3: str | None = None
    fig3_caption: str = ""  # why Fig. 3's FADs differ from Table II's
    notes: list[str] = field(default_factory=list)


def _media(audio: str, image: str, alt: str) -> str:
    return (
        f'<audio controls preload="metadata" src="{escape(audio)}"></audio>'
        f'<img src="{escape(image)}" alt="{escape(alt)}" loading="eager">'
    )


def _cell(cell: CellView | None) -> str:
    if cell is None:
        return '<td class="num">—</td>'
    note = f"<sup>{cell.note}</sup>" if cell.note else ""
    return f'<td class="num">{escape(cell.text)}{note}</td>'


def _link(href: str | None, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>' if href else escape(text)


def _denoiser_mark(d: DenoiserView) -> str:
    """The short note under a denoiser row's label in Table II."""
    why = _link(d.investigation, "why")
    return f'<div class="caption note">denoiser (Δt = 1), not the paper\'s model: {why}</div>'


def _denoiser_note(d: DenoiserView) -> str:
    """The note at the top of a denoiser row's excerpts."""
    card = f"; {_link(d.card, 'its model card')}" if d.card else ""
    return (
        f'<p class="note">Denoiser, not a trained generator: checkpoint {escape(d.checkpoint)} was trained '
        "with Δt = 1 (its training configuration), so these reconstructions are a conditional mean, not what "
        f"the paper's model sounds like. See {_link(d.investigation, INVESTIGATION)}{card}.</p>"
    )


def _summary_row(model: ModelView, metrics: list[str]) -> str:
    label = f'<a href="#{_anchor(model.label)}">{escape(model.label)}</a>'
    if model.denoiser:
        label += _denoiser_mark(model.denoiser)
    if not model.cells and model.note and metrics:  # not evaluated: one cell says why for all of them
        return f'<tr><td>{label}</td><td colspan="{len(metrics)}" class="note">{escape(model.note)}</td></tr>'
    return f"<tr><td>{label}</td>{''.join(_cell(model.cells.get(m)) for m in metrics)}</tr>"


def _summary(page: Page) -> str:
    """Table II with its legend and the numbered reasons of its empty cells."""
    head = "".join(f"<th>{escape(METRICS[m].title)} {METRICS[m].arrow}</th>" for m in page.metrics)
    rows = "".join(_summary_row(model, page.metrics) for model in page.models)
    parts = [f"<table><tr><th>model</th>{head}</tr>{rows}</table>"]
    if page.legend:
        parts.append(f'<p class="caption">{escape(page.legend)}</p>')
    parts += [
        f'<div class="caption">n/c<sup>{i}</sup>: {escape(text)}</div>'
        for i, text in enumerate(page.footnotes, 1)
    ]
    return "\n".join(parts)


def _anchor(label: str) -> str:
    return "m-" + "".join(c if c.isalnum() else "-" for c in label.lower())


def _model(model: ModelView) -> str:
    parts = [f'<h2 id="{_anchor(model.label)}">{escape(model.label)}</h2>']
    if model.note:
        parts.append(f'<p class="note">{escape(model.note)}</p>')
    if model.denoiser:
        parts.append(_denoiser_note(model.denoiser))
    if model.clips:
        parts.append("<table><tr><th>clip</th><th>original</th><th>reconstruction</th></tr>")
        for c in model.clips:
            why = "<br>".join(escape(x) for x in c.captions)
            parts.append(
                f'<tr class="clip"><td>{escape(c.clip)}<div class="caption">{why}</div></td>'
                f"<td>{_media(c.original_audio, c.original_image, f'spectrogram of {c.clip}')}</td>"
                f"<td>{_media(c.recon_audio, c.recon_image, f'spectrogram of {c.clip} by {model.label}')}</td></tr>"
            )
        parts.append("</table>")
    return "\n".join(parts)


def _fig3(page: Page) -> str:
    if not page.fig3:
        return ""
    caption = f'<p class="caption">{escape(page.fig3_caption)}</p>' if page.fig3_caption else ""
    return (
        f'<h2>Fig. 3: FAD against σ_cond</h2><img src="{escape(page.fig3)}" alt="Fig. 3" style="max-width:100%">'
        + caption
    )


SPECTROGRAMS = (
    f"spectrograms: time in s across, frequency in kHz up (0–{MAX_HZ // 1000} kHz), colour the power over "
    f"the {DB_RANGE:.0f} dB below the original's peak, so each reconstruction is drawn on its original's scale"
)


def render_page(page: Page) -> str:
    notes = "".join(f'<li class="note">{escape(n)}</li>' for n in page.notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(page.title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(page.title)}</h1>
<p>{escape(page.dataset)}. {escape(page.provenance)}. Excerpts: the middle {EXCERPT_SECONDS:g} s of each clip,
Ogg Opus; {escape(SPECTROGRAMS)}. Per clip: the best, median and worst clip of each model by SI-SDR and by
per-song FAD (Table II's per-clip values).</p>
{f"<ul>{notes}</ul>" if notes else ""}
<h2>Table II</h2>
{_summary(page)}
{_fig3(page)}
{"".join(_model(m) for m in page.models)}
</body></html>
"""
