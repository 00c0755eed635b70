"""Killing the embedded broker under load: `uv run python -m bench.broker_kills` (README, section Resilience)."""
