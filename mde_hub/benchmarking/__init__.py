"""The benchmark suite behind `mde-hub bench` (see BENCHMARKS.md): models, DPT against transformers, data, metrics."""

from .suite import BenchOptions, BenchReport, run_benchmark_suite

__all__ = ["BenchOptions", "BenchReport", "run_benchmark_suite"]
