"""Datasets read in their native layouts, shared by the evaluation, the benchmark and training."""
