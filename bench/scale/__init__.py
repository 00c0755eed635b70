"""Failover benchmark: `uv run python -m bench.scale` (docs/scaling.md, section Rebalances and failover)."""
