"""Table III: downstream probing of time-averaged embeddings with the mir_ref protocol.

Modules: `tasks` (task definitions as data), `features` (per-item embeddings, cached on disk), `mlp` (the
probe), `metrics` (AUC-ROC/PR, weighted key score, accuracy, F1), `run` (models x tasks x seeds, resumable),
`table` (Markdown/LaTeX/CSV rendering), `export` (embeddings in mir_ref's folder layout).
"""

from __future__ import annotations

from typing import Any


def run_table3(cfg: Any, progress: bool = True, render: bool = True) -> Any:
    """Run Table III (see benchmarks.probing.run.run_table3); imported lazily so the package stays light."""
    from benchmarks.probing.run import run_table3 as _run

    return _run(cfg, progress=progress, render=render)
