"""Data files shipped with the benchmark (the papers' published numbers)."""
