"""Quality metrics for reconstructions: SI-SDR, ViSQOL and Fréchet audio distance with pluggable embedders.

`benchmarks.metrics.evaluate.evaluate_pairs` is the single entry point that computes any set of them and
returns a per-clip table plus aggregates with confidence intervals.
"""
