"""Table III: downstream probing of time-averaged embeddings with the mir_ref protocol.

Modules: `config` (the `table3:` section as typed settings), `tasks` (task definitions as data), `features`
(per-item embeddings, cached on disk), `mlp` (the probe), `metrics` (AUC-ROC/PR, weighted key score,
accuracy, F1), `run` (models x tasks x seeds, resumable), `run_log` (its log of finished probe runs),
`export` (embeddings in mir_ref's folder layout).
Rendering: `benchmarks.rendering.table3`.
"""
