"""Benchmark plumbing shared by ``benchmarks/`` and the cold-start subprocess."""
