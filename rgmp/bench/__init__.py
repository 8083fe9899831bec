"""Benchmarks: the paper's evaluation tables (Tables 1-6, Figure 1) and the speed benchmark.

:mod:`rgmp.cli.bench` registers ``python -m rgmp benchmark`` (datasets) and ``python -m rgmp bench`` (speed).
"""

from rgmp.errors import InputError


class BenchmarkError(InputError):
    """Bad input to a benchmark (missing dataset folder, unknown option, unavailable add-on); one-line message."""
