"""The figures README.md quotes match what the code and the committed results say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import m2l2

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TABLE2 = ROOT / "results" / "tables" / "table2_default.md"
LABELS = {  # README row → Table II row
    "Opus 11 kbps": "Opus 11 kbps",
    "Opus 6 kbps": "Opus 6 kbps",
    "MP3 11 kbps": "MP3 11 kbps",
    "Music2Latent2 `tiny` denoiser, summary": "Music2Latent2 (tiny, summary)",
    "Music2Latent2 `tiny` denoiser, ordered": "Music2Latent2 (tiny, ordered)",
}


def _cells(text: str, label: str) -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")]


def _numbers(cell: str) -> list[float]:
    return [float(x.replace("−", "-")) for x in re.findall(r"[−-]?\d+\.\d+", cell.split("(")[0])]


@pytest.mark.parametrize("readme_label", list(LABELS))
def test_readme_table_is_table_two(readme_label):
    # README: model, compression, SI-SDR, ViSQOL, FAD-MusiCNN (FAD to one decimal); Table II: model,
    # compression, stereo, SI-SDR, ViSQOL, FAD_musicnn, ...
    mine, theirs = _cells(README, readme_label), _cells(TABLE2.read_text(), LABELS[readme_label])
    assert mine[1] == theirs[1]
    assert _numbers(mine[2]) == _numbers(theirs[3]) and _numbers(mine[3]) == _numbers(theirs[4])
    assert _numbers(mine[4]) == [round(v, 1) for v in _numbers(theirs[5])]


def test_readme_parameter_counts_are_the_checkpoints():
    quoted = re.search(r"(\d+\.\d) M / (\d+\.\d) M-parameter models \(the paper's configuration has (\d+\.\d) M\)",
                       README)
    assert quoted, "the Limits section quotes the parameter counts"

    def millions(model) -> float:
        return round(sum(p.numel() for p in model.parameters()) / 1e6, 1)

    counts = sorted(millions(m2l2.load(ROOT / "results" / "checkpoints" / name)) for name in ("tiny-summary", "tiny-ordered"))
    assert [float(quoted[1]), float(quoted[2])] == counts
    assert float(quoted[3]) == millions(m2l2.build("paper"))
