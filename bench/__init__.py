"""Benchmarks of otel-dify against its Dify simulator: ``python -m bench --help``."""
