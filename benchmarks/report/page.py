"""The HTML of the listening report: one static page, inline CSS, relative links only."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from benchmarks.metrics import METRICS

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { font-variant-numeric: tabular-nums; }
.clip img { display: block; width: 360px; height: 144px; }
.clip audio { width: 360px; }
.note { color: #8a4b00; }
.caption { font-size: 13px; color: #555; }
"""


@dataclass(frozen=True)
class ClipView:
    clip: str
    captions: list[str]  # why it was picked, e.g. "worst SI-SDR: -12.40"
    original_audio: str  # paths relative to index.html
    original_image: str
    recon_audio: str
    recon_image: str


@dataclass
class ModelView:
    label: str
    cells: dict[str, str]  # metric → "value [lo, hi]"
    clips: list[ClipView]
    note: str | None = None


@dataclass
class Page:
    title: str
    dataset: str
    provenance: str
    metrics: list[str]
    models: list[ModelView]
    fig3: str | None = None
    notes: list[str] = field(default_factory=list)


def _media(audio: str, image: str, alt: str) -> str:
    return (
        f'<audio controls preload="metadata" src="{escape(audio)}"></audio>'
        f'<img src="{escape(image)}" alt="{escape(alt)}" loading="eager">'
    )


def _summary(page: Page) -> str:
    head = "".join(f"<th>{escape(METRICS[m].title)} {METRICS[m].arrow}</th>" for m in page.metrics)
    rows = []
    for model in page.models:
        cells = "".join(f'<td class="num">{escape(model.cells.get(m, "—"))}</td>' for m in page.metrics)
        rows.append(f'<tr><td><a href="#{_anchor(model.label)}">{escape(model.label)}</a></td>{cells}</tr>')
    return f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>"


def _anchor(label: str) -> str:
    return "m-" + "".join(c if c.isalnum() else "-" for c in label.lower())


def _model(model: ModelView) -> str:
    parts = [f'<h2 id="{_anchor(model.label)}">{escape(model.label)}</h2>']
    if model.note:
        parts.append(f'<p class="note">{escape(model.note)}</p>')
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


def render_page(page: Page) -> str:
    notes = "".join(f'<li class="note">{escape(n)}</li>' for n in page.notes)
    fig3 = (
        f'<h2>Fig. 3: FAD against σ_cond</h2><img src="{escape(page.fig3)}" alt="Fig. 3" style="max-width:100%">'
        if page.fig3
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(page.title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(page.title)}</h1>
<p>{escape(page.dataset)}. {escape(page.provenance)}. Excerpts: the middle 5 s of each clip, Ogg Opus;
spectrograms up to 16 kHz, each reconstruction drawn on its original's colour scale. Per clip: the best,
median and worst clip of each model by SI-SDR and by per-song FAD (Table II's per-clip values).</p>
{f"<ul>{notes}</ul>" if notes else ""}
<h2>Table II</h2>
{_summary(page)}
{fig3}
{"".join(_model(m) for m in page.models)}
</body></html>
"""
