"""Adapters (database, bus) of the diagnostics service. Empty until its issue is built."""
