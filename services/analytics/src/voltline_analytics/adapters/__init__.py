"""Adapters (database, bus) of the analytics service. Empty until its issue is built."""
