"""Benchmark runners: miniF2F and other suites (``benchmarks.minif2f``), engine benchmarks
(``benchmarks.perf``)."""

__all__: list[str] = []
