"""Rendering result files into tables (Markdown, LaTeX booktabs, CSV) and figures (PNG, PDF).

`table` is the one table model every table is built with (cells, best-value marking read from each
metric's declared direction, the three output formats); `latex` the one LaTeX escape; `common` what
captions share (dataset titles, weights, the paper's published numbers). One module per result:
`table1`, `table2`, `table3`, `fig3` (table and figure), `seams`, `speed`; each has `render(result_file,
output_dir)`, which the experiment registry (`benchmarks.experiments`) calls after the experiment ran.
"""
