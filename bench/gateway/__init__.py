"""The gateway benchmark: `uv run python -m bench.gateway` (see docs/gateway.md, section Benchmark)."""
