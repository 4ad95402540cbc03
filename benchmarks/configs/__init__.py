"""Experiment configurations (YAML) for `m2l2 tables`."""
