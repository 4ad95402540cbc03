"""The notebooks in notebooks/ run top to bottom (σ_cond curves on the committed results; adding a baseline)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install nbformat nbclient ipykernel")
nbclient = pytest.importorskip("nbclient", reason="pip install nbformat nbclient ipykernel")
pytest.importorskip("ipykernel", reason="pip install ipykernel")
pytest.importorskip("matplotlib", reason="pip install matplotlib")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _execute(name: str):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


def _outputs(nb) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            data = o.get("data", {})
            parts.append(o.get("text", "") or data.get("text/markdown", "") or str(data.get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.slow
def test_sigma_cond_notebook_plots_the_committed_results():
    nb = _execute("sigma_cond_curves.ipynb")
    text = _outputs(nb)
    assert "result file: results/" in text and "lowest two-step FAD at sigma_cond" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no figure"


@pytest.mark.slow
def test_add_a_baseline_notebook_runs_table2_with_the_new_codec():
    nb = _execute("add_a_baseline.ipynb")
    text = _outputs(nb)
    assert "compression ratio: 8.0" in text and "mu-law decimator (toy)" in text


@pytest.mark.slow
def test_results_dataframe_notebook_plots_from_the_dataframe():
    pytest.importorskip("pandas", reason="pip install pandas")
    nb = _execute("results_dataframe.ipynb")
    text = _outputs(nb)
    assert "rows:" in text and "lowest two-step FAD" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2, "the notebook should draw the Fig. 3 curve and the per-clip SI-SDR spread"
