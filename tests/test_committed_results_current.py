"""The committed results are reusable: a fresh clone's `make tables` finds every row it can reuse.

Rows are reused only when the model's identity (registry name, options, info, weights, architecture, codec
library version) still hashes to the key they were computed under. When code changes an identity without a
rerun of `make tables`, every fresh clone recomputes those rows (an hour on 2 cores): these tests fail first.
"""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE2 = ROOT / "results" / "table2" / "default.json"
CONSTRAINTS = ROOT / "constraints.txt"


def _pinned(package: str) -> str:
    for line in CONSTRAINTS.read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def _committed_models() -> list[dict]:
    return json.loads(TABLE2.read_text())["models"]


def test_codec_rows_were_computed_with_the_pinned_pyav():
    notes = [m["identity"]["provenance"]["note"] for m in _committed_models() if "PyAV" in
             m["identity"]["provenance"].get("note", "")]
    assert notes, "no codec row in results/table2/default.json"
    versions = {re.search(r"PyAV (\S+)", n).group(1) for n in notes}
    assert versions == {_pinned("av")}, "rerun `make tables` after changing the av pin in constraints.txt"


@pytest.mark.parametrize("label", [m["label"] for m in json.loads(TABLE2.read_text())["models"]])
def test_model_identity_matches_the_committed_rows(label, monkeypatch):
    """The identity the code computes today is the one the committed rows were keyed by."""
    monkeypatch.chdir(ROOT)  # the configuration names checkpoints relative to the repository
    from benchmarks.building import build_model, model_identity
    from benchmarks.config import find_model, load_config

    committed = next(m for m in _committed_models() if m["label"] == label)
    if "PyAV" in committed["identity"]["provenance"].get("note", "") and version("av") != _pinned("av"):
        pytest.skip(f"PyAV {version('av')} installed, the results pin {_pinned('av')} (make install)")
    spec = find_model(load_config(ROOT / "benchmarks" / "configs" / "default.yaml"), label)
    ae, why = build_model(spec)
    assert ae is not None, why
    assert json.loads(json.dumps(model_identity(spec, ae))) == committed["identity"], (
        "the model's identity changed: rerun `make tables` and commit results/ so fresh clones reuse them"
    )
